import fastifySwagger from '@fastify/swagger';
import type { AuditActor } from '@cairn/core';
import { serializeEvidenceBundle } from '@cairn/audit';
import { blobKey, CairnError, sha256Digest } from '@cairn/protocol';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { jsonSchemaTransformObject, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import { logRequests } from '../logging/request-logging.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerDocsRoutes } from './docs-routes.ts';
import { replyWithError } from './error-replies.ts';
import { streamEvents } from './event-stream.ts';
import type { HttpApp } from './http-app.ts';
import { isLoopback, refuseSandboxPeer } from './loopback.ts';
import { openApiSecurityComponents, transformWithScopes } from './openapi-scopes.ts';
import { bytesAnswer, declareErrorResponses, itemViewSchema, runViewSchema, submitResultSchema } from './response-schemas.ts';
import { registerRunListRoutes } from './run-list-routes.ts';
import { registerScheduleRoutes } from './schedule-routes.ts';
import { registerSecretRoutes } from './secret-routes.ts';
import { sendBlob } from './send-blob.ts';
import { registerTokenRoutes } from './token-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

export interface HttpApiOptions {
  readonly composition: ServerComposition;
  readonly host: string;
  /** `tokens` (default): bearer tokens with scopes. `loopback-operator`: no tokens, loopback only. */
  readonly auth?: 'tokens' | 'loopback-operator';
  /** The server's logger (`createServerLogger`): one line per request; none by default (tests). */
  readonly logger?: FastifyBaseLogger;
}

/** The one operator of a loopback-only server: who every audit entry of its requests names. */
const operator: AuditActor = { kind: 'user', id: 'operator', via: 'http' };
/** A run spec may be 32 MiB; a little more for the JSON around it. */
const bodyLimit = 34 * 1024 * 1024;

const runParams = z.strictObject({ runId: z.string().min(1).max(200) });
const itemParams = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });
const digestParams = z.strictObject({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>') });

/**
 * The HTTP API over a composed server: runs (submit, list, read, cancel), items (approve, reject,
 * cancel, patch), events as resumable server-sent events, blobs by digest (streamed), evidence
 * bundles and the NDJSON audit export, schedules, secrets, tokens and webhooks, metrics, health,
 * the OpenAPI document at /openapi.json and a page of it at /docs. Routes other than the core's
 * live in `register<Topic>Routes` files. Every answer is declared in the document; every error is
 * `{ code, message, action, path?, issues? }` with the CairnError catalogue's status. Every `/v1`
 * route names its action; a request carries a bearer token whose scopes allow it (401 without a
 * valid one, 403 without the scope, audited as `access.denied`) — or, with
 * `auth: 'loopback-operator'` on a loopback host, acts as the operator.
 */
export async function buildHttpApi(options: HttpApiOptions): Promise<HttpApp> {
  const auth = options.auth ?? 'tokens';
  if (auth === 'loopback-operator' && !isLoopback(options.host)) {
    throw new CairnError('CAIRN_CONFIG_INVALID', `server.auth 'loopback-operator' lets anyone who reaches the server act as its operator: it binds loopback only, not ${options.host}. Bind 127.0.0.1, or use auth: tokens.`, { path: 'config.server.host' });
  }
  const { engine, storage, signingKey, authorizer } = options.composition;
  const app: HttpApp = Fastify({
    ...(options.logger ? { loggerInstance: options.logger, disableRequestLogging: true } : { logger: false }),
    bodyLimit,
    // Path parameters as long as the schemas allow (a run id may be 200 characters), and the
    // router's own refusals (a parameter longer still, a malformed URL) answered like every error.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: (error, request, reply) => replyWithError(error, request, reply),
  }).withTypeProvider<ZodTypeProvider>();
  if (options.logger) logRequests(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  declareErrorResponses(app);
  app.setErrorHandler((error, request, reply) => replyWithError(error instanceof Error ? error : new Error(String(error)), request, reply));
  // Who each request acts as: the token's actor after its scope is checked, or the operator.
  app.decorateRequest('actor', null);
  app.addHook('onRequest', async (request) => {
    const action = (request.routeOptions.config as { action?: string } | undefined)?.action;
    if (action === undefined) return;
    if (auth === 'loopback-operator') {
      refuseSandboxPeer(request.raw.socket);
      request.actor = operator;
      return;
    }
    const header = request.headers.authorization;
    const credential = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const principal = credential === undefined ? null : await authorizer.authenticate(credential);
    if (!principal) throw new CairnError('CAIRN_UNAUTHENTICATED', credential === undefined ? 'This request needs a bearer token (Authorization: Bearer cairn_...); `cairn token create` makes one.' : 'The bearer token is unknown or revoked; `cairn token create` makes a new one.');
    const params = request.params as { runId?: string; itemId?: string; digest?: string };
    const resource = { kind: params.itemId ? 'item' : params.runId ? 'run' : params.digest ? 'blob' : 'server', id: params.itemId ? `${params.runId}/${params.itemId}` : (params.runId ?? params.digest ?? 'server') };
    const decision = await authorizer.authorize(principal, action, resource);
    const actor: AuditActor = { ...principal.actor, via: 'http' };
    if (!decision.allowed) {
      engine.audit.append({ actor, action: 'access.denied', entity: resource.kind === 'run' || resource.kind === 'item' ? { kind: resource.kind, id: resource.id } : { kind: 'server', id: resource.id }, outcome: 'denied', data: { action, reason: decision.reason } });
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${decision.reason}.`, { details: { action } });
    }
    request.actor = actor;
  });
  app.setNotFoundHandler((request, reply) => replyWithError(new CairnError('CAIRN_NOT_FOUND', `There is no ${request.method} ${request.url.split('?')[0]}; see /openapi.json for what this server answers.`), request, reply));
  // Run specs may come as YAML text; JSON bodies are parsed by Fastify.
  app.addContentTypeParser(['application/yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_request, body, done) => done(null, body));
  await app.register(fastifySwagger, {
    openapi: { openapi: '3.1.0', info: { title: 'Cairn', version: '0.1.0', description: 'Run AI-agent work unattended, and prove what ran.' }, components: openApiSecurityComponents },
    transform: transformWithScopes,
    transformObject: jsonSchemaTransformObject,
  });

  app.addHook('onResponse', async (request, reply) => {
    options.composition.metrics.observeRequest(request.routeOptions.url ?? 'unknown', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { config: { action: 'metrics.read' }, schema: { summary: 'Prometheus metrics: runs and items by state, queue depth, dispatch latency, checkpoint lag, anchor failures, HTTP', response: { 200: bytesAnswer('text/plain', 'The Prometheus text exposition format') } } }, async (_request, reply) =>
    reply.type(options.composition.metrics.registry.contentType).send(await options.composition.metrics.registry.metrics()),
  );
  app.get('/healthz', { schema: { summary: 'The process is up', response: { 200: z.strictObject({ ok: z.boolean() }) } } }, async () => ({ ok: true }));
  app.get('/readyz', { schema: { summary: 'The engine answers', response: { 200: z.strictObject({ ready: z.boolean(), auditEntries: z.int() }) } } }, async () => ({ ready: true, auditEntries: engine.audit.size }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.post('/v1/runs', { config: { action: 'runs.submit' }, schema: { summary: 'Submit a run (JSON, or YAML as application/yaml); Idempotency-Key makes it safe to retry', headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).passthrough(), response: { 200: submitResultSchema, 201: submitResultSchema } } }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    const result = engine.submit(request.body, { actor: request.actor!, source: 'the request body', ...(typeof key === 'string' ? { idempotencyKey: key } : {}) });
    return reply.status(result.created ? 201 : 200).send(result);
  });
  app.get('/v1/runs/:runId', { config: { action: 'runs.read' }, schema: { summary: 'A run', params: runParams, response: { 200: runViewSchema } } }, async (request) => {
    const run = engine.run(request.params.runId);
    if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${request.params.runId} does not exist.`, { path: 'runId' });
    return run;
  });
  app.get('/v1/runs/:runId/items', { config: { action: 'runs.read' }, schema: { summary: "A run's items", params: runParams, response: { 200: z.array(itemViewSchema) } } }, async (request) => {
    if (!engine.run(request.params.runId)) throw new CairnError('CAIRN_NOT_FOUND', `Run ${request.params.runId} does not exist.`, { path: 'runId' });
    return engine.items(request.params.runId);
  });
  app.get('/v1/runs/:runId/items/:itemId/patch', { config: { action: 'blobs.read' }, schema: { summary: "A succeeded item's patch (git diff --binary); 404 when it changed nothing", params: itemParams, response: { 200: bytesAnswer('text/x-diff', 'The patch, as git diff --binary wrote it; x-cairn-digest names its digest') } } }, async (request, reply) => {
    const { runId, itemId } = request.params;
    const digest = engine.artifacts(runId, itemId)?.['patch'];
    if (digest === undefined) throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} has no patch: it has not succeeded, or it changed nothing.`, { path: 'itemId' });
    return sendBlob(reply, storage, digest, 'text/x-diff', () => new CairnError('CAIRN_NOT_FOUND', `The patch ${digest} of item ${itemId} is not in storage.`, { path: 'itemId' }));
  });
  app.post('/v1/runs/:runId/cancel', { config: { action: 'runs.cancel' }, schema: { summary: 'Cancel a run', params: runParams, response: { 202: runViewSchema } } }, async (request, reply) => {
    engine.cancelRun(request.params.runId, request.actor!);
    return reply.status(202).send(engine.run(request.params.runId)!);
  });
  const itemAction = (action: 'approve' | 'reject' | 'cancel') =>
    app.post(`/v1/runs/:runId/items/:itemId/${action}`, { config: { action: `items.${action}` }, schema: { summary: `${action[0]!.toUpperCase()}${action.slice(1)} an item`, params: itemParams, body: z.strictObject({ reason: z.string().min(1).max(2_000).optional() }).nullish(), response: { 202: itemViewSchema } } }, async (request, reply) => {
      const { runId, itemId } = request.params;
      if (action === 'approve') engine.approve(runId, itemId, request.actor!);
      else if (action === 'reject') engine.reject(runId, itemId, request.actor!, request.body?.reason);
      else engine.cancelItem(runId, itemId, request.actor!);
      return reply.status(202).send(engine.items(runId).find((item) => item.itemId === itemId)!);
    });
  itemAction('approve');
  itemAction('reject');
  itemAction('cancel');
  registerScheduleRoutes(app, options.composition);
  registerSecretRoutes(app, options.composition);
  registerTokenRoutes(app, options.composition);
  registerRunListRoutes(app, options.composition);
  registerAuditRoutes(app, options.composition);
  registerDocsRoutes(app, options.composition);
  registerWebhookRoutes(app, options.composition);
  app.get('/v1/events', { config: { action: 'events.read' }, schema: { summary: 'Every event, as server-sent events (resume with Last-Event-ID or ?after=)', response: { 200: bytesAnswer('text/event-stream', 'Server-sent events: id (the audit sequence), event (its type), data (the event as JSON)') } } }, (request, reply) => streamEvents(engine, request, reply));
  app.get('/v1/runs/:runId/events', { config: { action: 'events.read' }, schema: { summary: "A run's events, as server-sent events", params: runParams, response: { 200: bytesAnswer('text/event-stream', 'Server-sent events: id (the audit sequence), event (its type), data (the event as JSON)') } } }, (request, reply) => streamEvents(engine, request, reply, request.params.runId));
  // Workspace snapshots and other inputs, stored by the digest of their bytes (what a run spec names).
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/v1/blobs', { config: { action: 'runs.submit' }, schema: { summary: 'Store bytes (a workspace snapshot) by their digest; returns it', response: { 201: z.strictObject({ digest: z.string(), bytes: z.int() }) } } }, async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) throw new CairnError('CAIRN_PAYLOAD_INVALID', 'Send the bytes as application/octet-stream.', { path: 'body' });
    const bytes = new Uint8Array(request.body.buffer, request.body.byteOffset, request.body.byteLength);
    const digest = sha256Digest(bytes);
    await storage.put(blobKey(digest), bytes, { ifAbsent: true });
    return reply.status(201).send({ digest, bytes: bytes.byteLength });
  });
  app.get('/v1/blobs/:digest', { config: { action: 'blobs.read' }, schema: { summary: 'A patch, log, output or snapshot by digest, streamed', params: digestParams, response: { 200: bytesAnswer('application/octet-stream', 'The bytes whose sha256 is the digest') } } }, async (request, reply) => {
    return sendBlob(reply, storage, request.params.digest, 'application/octet-stream', () => new CairnError('CAIRN_NOT_FOUND', `No blob ${request.params.digest} is stored here.`, { path: 'digest' }));
  });
  app.get('/v1/runs/:runId/bundle', { config: { action: 'audit.read' }, schema: { summary: "A run's evidence bundle (cairn.bundle/v1), to verify offline", params: runParams, response: { 200: bytesAnswer('application/json', 'The bundle in its canonical bytes (verify it with cairn verify); x-cairn-signing-key names the key') } } }, async (request, reply) => {
    const bundle = await engine.exportBundle(request.params.runId);
    return reply.type('application/json').header('x-cairn-signing-key', signingKey.keyId).send(Buffer.from(serializeEvidenceBundle(bundle)));
  });
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as, once authenticated (routes with an action only). */
    actor: AuditActor | null;
  }
}
