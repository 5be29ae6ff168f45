import fastifySwagger from '@fastify/swagger';
import type { AuditActor, WorkspaceSpec } from '@cairn/core';
import { serializeEvidenceBundle } from '@cairn/audit';
import { Readable } from 'node:stream';
import { blobKey, budgetSpecSchema, CairnError, decodeRunSpec, manifestKey } from '@cairn/protocol';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import type { EngineService, Voter } from '@cairn/engine';
import { RunSpend } from '../gateway/model-spend.ts';
import { currentRunBudget, raisedRunBudget } from '../gateway/run-budget.ts';
import { logRequests } from '../logging/request-logging.ts';
import { registerAuditRoutes } from './audit-routes.ts';
import { registerDashboardRoutes } from './dashboard-routes.ts';
import { registerDocsRoutes } from './docs-routes.ts';
import { replyWithError } from './error-replies.ts';
import { eventStreamQuery, streamEvents } from './event-stream.ts';
import type { HttpApp } from './http-app.ts';
import { scopeOfAction, secretGrantsOf, voterOf } from '../auth/token-scopes.ts';
import { withApprovals } from './item-approvals.ts';
import { registerGraphRoutes } from './graph-routes.ts';
import { registerLogRoutes } from './log-routes.ts';
import { registerProvenanceRoutes } from './provenance-routes.ts';
import { isLoopback, loopbackOperator, loopbackPeerUid } from './loopback.ts';
import { checkRequestOrigin, hostNamesOf, isBrowserRequest } from './browser-requests.ts';
import { bodyLimits } from './body-limits.ts';
import { storeUpload } from './blob-upload.ts';
import { answerClientError } from './client-errors.ts';
import { connectionCapOf, isRefusedConnection, limitConnections, openFilesLimit } from './connection-limit.ts';
import { transformComponents } from './openapi-components.ts';
import { openApiSecurityComponents, openApiTags, transformWithScopes } from './openapi-scopes.ts';
import { requireItem, requireRun } from './require-run.ts';
import { withDeliveries } from '../delivery/item-delivery.ts';
import { attemptViewSchema, bytesAnswer, declareErrorResponses, itemViewSchema, runViewSchema, submitResultSchema } from './response-schemas.ts';
import { registerRunListRoutes } from './run-list-routes.ts';
import { registerRunSpecRoutes } from './run-spec-routes.ts';
import { registerScheduleRoutes } from './schedule-routes.ts';
import { registerSecretRoutes } from './secret-routes.ts';
import { registerOidcSignInRoutes } from './oidc-sign-in-routes.ts';
import { registerSessionRoutes } from './session-routes.ts';
import { sendBlob } from './send-blob.ts';
import { registerTokenRoutes } from './token-routes.ts';
import { registerTriggerRoutes } from './trigger-routes.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';

export interface HttpApiOptions {
  readonly composition: ServerComposition;
  readonly host: string;
  /** `tokens` (default): bearer tokens with scopes. `loopback-operator`: no tokens, loopback only. */
  readonly auth?: 'tokens' | 'loopback-operator';
  /** Host names the server answers to besides IP literals and localhost (`server.allowedHosts`). */
  readonly allowedHosts?: readonly string[];
  /** The most connections held at once (`server.maxConnections`), lowered to half the open-files limit. */
  readonly maxConnections?: number;
  /** The largest upload (`POST /v1/blobs`, a workspace snapshot) in bytes (`server.uploadLimitMiB`); 256 MiB by default. */
  readonly uploadLimitBytes?: number;
  /** The server's logger (`createServerLogger`): one line per request; none by default (tests). */
  readonly logger?: FastifyBaseLogger;
  /** Connection timeouts in milliseconds (`server.timeouts`); the defaults of the config otherwise. */
  readonly timeouts?: { readonly idleMs: number; readonly headersMs: number; readonly requestMs: number; readonly keepAliveMs: number };
}

const defaultTimeouts = { idleMs: 60_000, headersMs: 10_000, requestMs: 60_000, keepAliveMs: 5_000 };

const runParams = z.strictObject({ runId: z.string().min(1).max(200) });
const itemParams = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });
// Why a person cancelled, approved or rejected: stored and audited with what they did.
const reasonBody = z.strictObject({ reason: z.string().min(1).max(2_000).optional() }).nullish();
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
 * `auth: 'loopback-operator'` on a loopback host, acts as the operator when it comes from the
 * server's own user and not from a browser. Before any of that, a request naming a host the server
 * does not answer to, or sent by a browser for a page of another origin, is refused
 * (`browser-requests.ts`).
 */
export async function buildHttpApi(options: HttpApiOptions): Promise<HttpApp> {
  const auth = options.auth ?? 'tokens';
  const serverUid = process.getuid?.() ?? 0;
  if (auth === 'loopback-operator' && !isLoopback(options.host)) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `server.auth 'loopback-operator' lets anyone who reaches the server act as its operator: it binds loopback only, not ${options.host}. Bind 127.0.0.1, or use auth: tokens.`,
      { path: 'config.server.host' },
    );
  }
  const { service, storage, signingKey, authorizer } = options.composition;
  const timeouts = options.timeouts ?? defaultTimeouts;
  const app: HttpApp = Fastify({
    // A connection that says nothing is closed: 300 silent sockets once held every file handle.
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    requestTimeout: timeouts.requestMs,
    // Node refuses a headers timeout longer than the request timeout.
    http: { headersTimeout: Math.min(timeouts.headersMs, timeouts.requestMs), connectionsCheckingInterval: Math.min(1_000, timeouts.headersMs) },
    // Requests are logged by logRequests (method and path only); Fastify's own request lines are off.
    ...(options.logger ? { loggerInstance: options.logger, logController: new LogController({ disableRequestLogging: true }) } : { logger: false }),
    bodyLimit: bodyLimits.other,
    // What the HTTP parser refuses (headers over 16 KiB, a request too slow) answered as every error.
    clientErrorHandler: answerClientError,
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
  // Every route, the public ones included: a page of another origin gets nothing from this server.
  // Not audited, as a missing token is not: a page could otherwise write to the log at will.
  const hosts = hostNamesOf(options.host, options.allowedHosts ?? []);
  app.addHook('onRequest', async (request, reply) => {
    // Answered 503 already (over the connection cap): a request that came on it is read and dropped.
    if (isRefusedConnection(request.raw.socket)) {
      reply.hijack();
      return;
    }
    // Every answer, streams and blobs included: a browser never guesses a type other than the one sent.
    reply.raw.setHeader('x-content-type-options', 'nosniff');
    checkRequestOrigin(request, hosts);
  });
  const cap = connectionCapOf(openFilesLimit(), options.maxConnections);
  let refusedSince = 0;
  limitConnections(app.server, cap, () => {
    // Said at most once a minute: a flood of refusals must not become a flood of log lines.
    if (Date.now() - refusedSince < 60_000) return;
    refusedSince = Date.now();
    app.log.warn({ maxConnections: cap }, 'connections refused with 503: the server holds as many as it takes (server.maxConnections)');
  });
  // Who each request acts as: the token's actor after its scope is checked, or the operator.
  app.decorateRequest('actor', null);
  app.decorateRequest('secretGrants', null);
  app.decorateRequest('voter', null);
  app.addHook('onRequest', async (request) => {
    const action = (request.routeOptions.config as { action?: string } | undefined)?.action;
    if (action === undefined) return;
    // A browser runs as the operator's user too, so a page it shows could act as them: a browser
    // (the dashboard) signs in with a token here as on any server.
    if (auth === 'loopback-operator' && !isBrowserRequest(request.headers)) {
      // Being on this machine is not being its operator: a sandbox (its own uid) or another user
      // reaching the loopback port is refused; only the user the server runs as is the operator.
      const uid = loopbackPeerUid(request.raw.socket);
      if (uid === null || uid !== serverUid) {
        await service.hostAudit.accessDenied({
          actor: { kind: 'system', id: uid === null ? 'unknown-local-user' : `uid:${uid}`, via: 'http' },
          entity: { kind: 'server', id: 'operator' },
          requestedAction: action,
          reason: "loopback-operator: not the server's user",
        });
        throw new CairnError(
          'CAIRN_FORBIDDEN',
          `Not allowed: in loopback-operator mode only the user the server runs as (uid ${serverUid}) is its operator, and this connection ${uid === null ? 'could not be traced to a user' : `comes from uid ${uid}`} (a sandbox, or another user). Use a token (auth: tokens).`,
          { details: { action } },
        );
      }
      request.actor = loopbackOperator;
      request.secretGrants = 'all';
      // The operator holds no role: an approval policy naming roles (from) counts people with them.
      request.voter = {};
      return;
    }
    const header = request.headers.authorization;
    const credential = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice('Bearer '.length).trim() : undefined;
    const principal = credential === undefined ? null : await authorizer.authenticate(credential);
    // The scope the action needs is named, so a client can say which token to make.
    const scope = scopeOfAction[action];
    if (!principal)
      throw new CairnError(
        'CAIRN_UNAUTHENTICATED',
        credential === undefined
          ? auth === 'loopback-operator'
            ? 'A browser needs a token even on a loopback-operator server (a page it shows could act as you otherwise): sign in with a link from `cairn dashboard`, or a token from `cairn token create`.'
            : `This request needs a bearer token${scope ? ` with the ${scope} scope` : ''} (Authorization: Bearer cairn_...); \`cairn token create${scope ? ` --scope ${scope}` : ''}\` makes one.`
          : `The bearer token is unknown or revoked; \`cairn token create${scope ? ` --scope ${scope}` : ''}\` makes a new one.`,
        { details: { action, scope: scope ?? null } },
      );
    const params = request.params as { runId?: string; itemId?: string; digest?: string };
    const resource = {
      kind: params.itemId ? 'item' : params.runId ? 'run' : params.digest ? 'blob' : 'server',
      id: params.itemId ? `${params.runId}/${params.itemId}` : (params.runId ?? params.digest ?? 'server'),
    };
    const decision = await authorizer.authorize(principal, action, resource);
    const actor: AuditActor = { ...principal.actor, via: 'http' };
    if (!decision.allowed) {
      await service.hostAudit.accessDenied({
        actor,
        entity: resource.kind === 'run' || resource.kind === 'item' ? { kind: resource.kind, id: resource.id } : { kind: 'server', id: resource.id },
        requestedAction: action,
        reason: decision.reason,
      });
      throw new CairnError('CAIRN_FORBIDDEN', `Not allowed: ${decision.reason}.`, { details: { action } });
    }
    request.actor = actor;
    request.secretGrants = secretGrantsOf(principal.scopes);
    request.voter = voterOf(principal);
  });
  app.setNotFoundHandler((request, reply) =>
    replyWithError(
      new CairnError('CAIRN_NOT_FOUND', `There is no ${request.method} ${request.url.split('?')[0]}; see /openapi.json for what this server answers.`),
      request,
      reply,
    ),
  );
  // A run spec, JSON or YAML, reaches the spec parser as the text it was sent: one rule for every
  // surface (strict UTF-8, prototype keys and NULs refused naming their JSON path). Other JSON
  // bodies are Fastify's, which refuses prototype keys outright.
  const defaultJsonParser = app.getDefaultJsonParser('error', 'error');
  const isRunSpec = (request: { method: string; routeOptions: { url?: string | undefined } }) =>
    request.method === 'POST' && request.routeOptions.url === '/v1/runs';
  // Exactly the bodies the API takes (Fastify's own text/plain parser goes too): JSON, YAML run specs
  // and octet-stream blobs, none of which a page may send to another origin without asking.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    try {
      if (isRunSpec(request)) return done(null, decodeRunSpec(body as Buffer, 'the request body'));
      void defaultJsonParser(request, (body as Buffer).toString('utf8'), done);
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // Only application/yaml: text/plain is a type a page may send anywhere without asking (a "simple"
  // request), and text/yaml gains nothing beside it.
  app.addContentTypeParser('application/yaml', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, decodeRunSpec(body as Buffer, 'the request body'));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  await app.register(fastifySwagger, {
    // servers: `/`, the server that served the document, so a client resolves paths against it.
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Cairn',
        version: '0.1.0',
        description: 'Run AI-agent work unattended, and prove what ran.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: '/', description: 'This server' }],
      tags: [...openApiTags],
      components: openApiSecurityComponents,
    },
    transform: transformWithScopes,
    transformObject: transformComponents,
  });

  app.addHook('onResponse', async (request, reply) => {
    options.composition.metrics.observeRequest(request.routeOptions.url ?? 'unknown', request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      config: { action: 'metrics.read' },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics: runs and items by state, queue depth, dispatch latency, checkpoint lag, anchor failures, HTTP',
        response: { 200: bytesAnswer('text/plain', 'The Prometheus text exposition format') },
      },
    },
    async (_request, reply) => reply.type(options.composition.metrics.registry.contentType).send(await options.composition.metrics.registry.metrics()),
  );
  app.get(
    '/healthz',
    { schema: { operationId: 'checkHealth', summary: 'The process is up', response: { 200: z.strictObject({ ok: z.boolean() }) } } },
    async () => ({ ok: true }),
  );
  // Not ready (503) while the engine cannot do its work, e.g. the disk under its database (or where
  // tasks write) is full:
  // it says why and since when, so a load balancer stops sending work and an operator knows what to fix.
  // A log that cannot be written does not stop the engine: `logging` reports it, readiness stays.
  const logging = z
    .strictObject({
      ok: z.boolean().meta({ description: 'Whether the last log line was written' }),
      droppedLines: z.int().meta({ description: 'Log lines dropped since the server started, because they could not be written' }),
      since: z.string().optional().meta({ description: 'While failing: when the first line of this failure was dropped' }),
      reason: z.string().optional().meta({ description: 'While failing: why the last line was dropped (e.g. ENOSPC: the disk is full)' }),
    })
    .meta({ id: 'LogSinkStatus', description: "Whether the server's log is being written: a log that cannot be is dropped and counted, never fatal" });
  const readiness = z.strictObject({
    ready: z.boolean(),
    reason: z.string().optional(),
    since: z.string(),
    auditEntries: z.int(),
    logging: logging.optional(),
  });
  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'checkReadiness',
        summary: 'The engine can do its work (503 with the reason when it cannot, e.g. storage full)',
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const [engineHealth, auditEntries] = await Promise.all([service.health(), service.auditSize()]);
      // A full disk under the data directory or the work root is not ready even before a write of the
      // engine's fails: tasks that end meanwhile wait there for room before the engine hears of them.
      const disk = engineHealth.ready ? options.composition.diskRoom?.status() : undefined;
      const health = disk?.full ? { ready: false, reason: disk.reason, since: disk.since } : engineHealth;
      const logSink = options.composition.logSink?.status();
      return reply.status(health.ready ? 200 : 503).send({ ...health, auditEntries, ...(logSink ? { logging: logSink } : {}) });
    },
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.post(
    '/v1/runs',
    {
      bodyLimit: bodyLimits.runSpec,
      config: { action: 'runs.submit', body: 'run spec' },
      schema: {
        operationId: 'submitRun',
        summary: 'Submit a run (JSON, or YAML as application/yaml); Idempotency-Key makes it safe to retry',
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).passthrough(),
        response: { 200: submitResultSchema, 201: submitResultSchema },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      const result = await service.submit(request.body, {
        actor: request.actor!,
        source: 'the request body',
        secretGrants: request.secretGrants ?? [],
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );
  app.get(
    '/v1/runs/:runId',
    { config: { action: 'runs.read' }, schema: { operationId: 'getRun', summary: 'A run', params: runParams, response: { 200: runViewSchema } } },
    async (request) => runView(service, request.params.runId),
  );
  app.get(
    '/v1/runs/:runId/items',
    {
      config: { action: 'runs.read' },
      schema: { operationId: 'listRunItems', summary: "A run's items", params: runParams, response: { 200: z.array(itemViewSchema) } },
    },
    async (request) => {
      const { runId } = await requireRun(service, request.params.runId);
      return withDeliveries(service, storage, runId, await withApprovals(service, runId, await service.items(runId)));
    },
  );
  app.get(
    '/v1/runs/:runId/items/:itemId/attempts',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'listItemAttempts',
        summary: "An item's attempts, first to last: when each was dispatched and ended, its exit code, and why it did not succeed",
        params: itemParams,
        response: { 200: z.array(attemptViewSchema) },
      },
    },
    async (request) => {
      const { runId, itemId } = request.params;
      await requireItem(service, runId, itemId);
      return service.attempts(runId, itemId);
    },
  );
  app.get(
    '/v1/runs/:runId/items/:itemId/patch',
    {
      config: { action: 'blobs.read' },
      schema: {
        operationId: 'getItemPatch',
        summary: "A succeeded item's patch (git diff --binary); 404 when it changed nothing",
        params: itemParams,
        response: { 200: bytesAnswer('text/x-diff', 'The patch, as git diff --binary wrote it; x-cairn-digest names its digest') },
      },
    },
    async (request, reply) => {
      const { runId, itemId } = request.params;
      const digest = (await service.artifacts(runId, itemId))?.['patch'];
      if (digest === undefined)
        throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} has no patch: it has not succeeded, or it changed nothing.`, {
          path: 'itemId',
        });
      return sendBlob(
        reply,
        storage,
        digest,
        'text/x-diff',
        () => new CairnError('CAIRN_NOT_FOUND', `The patch ${digest} of item ${itemId} is not in storage.`, { path: 'itemId' }),
      );
    },
  );
  app.post(
    '/v1/runs/:runId/cancel',
    {
      config: { action: 'runs.cancel' },
      schema: {
        operationId: 'cancelRun',
        summary: 'Cancel a run (with an optional reason, kept in its audit entries)',
        params: runParams,
        body: reasonBody,
        response: { 202: runViewSchema },
      },
    },
    async (request, reply) => {
      await service.cancelRun(request.params.runId, request.actor!, request.body?.reason);
      return reply.status(202).send((await service.run(request.params.runId))!);
    },
  );
  app.post(
    '/v1/runs/:runId/budget',
    {
      config: { action: 'runs.budget' },
      schema: {
        operationId: 'raiseRunBudget',
        summary:
          "Give a run a new budget (the limits named replace the run's; each must be more than it has spent), with the reason kept in its audit entry; a run awaiting a raise runs again",
        params: runParams,
        body: z.strictObject({ budget: budgetSpecSchema, reason: z.string().min(1).max(2_000) }),
        response: { 202: runViewSchema },
      },
    },
    async (request, reply) => {
      const { runId } = request.params;
      await requireRun(service, runId);
      const [spec, spend] = await Promise.all([service.spec(runId), RunSpend.read(service.auditEntries({ runId, action: 'model.called' }))]);
      const current = await currentRunBudget(service.auditEntries({ runId, action: 'run.budget-raised' }), spec?.budget);
      const budget = raisedRunBudget(runId, current, request.body.budget, spend.run);
      await service.raiseBudget(runId, budget, request.actor!, request.body.reason);
      return reply.status(202).send(await runView(service, runId));
    },
  );
  const itemAction = (action: 'approve' | 'reject' | 'cancel') =>
    app.post(
      `/v1/runs/:runId/items/:itemId/${action}`,
      {
        config: { action: `items.${action}` },
        schema: {
          operationId: `${action}Item`,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} an item (with an optional reason, kept in its audit entries)`,
          ...(action === 'cancel'
            ? {}
            : {
                description:
                  "Under an approval policy (the item's approval: { required, from, selfApproval }) this is the caller's vote: the item waits until `required` distinct people the policy counts approve, and answers with its `approval` (the votes so far, how many it still needs). A vote the policy does not count (the run's submitter, someone with none of the roles or groups of `from`) is 403 CAIRN_APPROVAL_NOT_ALLOWED, a second vote by the same person 409 CAIRN_APPROVAL_DUPLICATE, and a rejection needs a reason.",
              }),
          params: itemParams,
          body: reasonBody,
          response: { 202: itemViewSchema },
        },
      },
      async (request, reply) => {
        const { runId, itemId } = request.params;
        const reason = request.body?.reason;
        if (action === 'approve') await service.approve(runId, itemId, request.actor!, reason, request.voter ?? {});
        else if (action === 'reject') await service.reject(runId, itemId, request.actor!, reason, request.voter ?? {});
        else await service.cancelItem(runId, itemId, request.actor!, reason);
        const item = (await service.items(runId)).find((candidate) => candidate.itemId === itemId)!;
        return reply.status(202).send((await withApprovals(service, runId, [item]))[0]!);
      },
    );
  itemAction('approve');
  itemAction('reject');
  itemAction('cancel');
  registerScheduleRoutes(app, options.composition);
  registerSecretRoutes(app, options.composition);
  registerTokenRoutes(app, options.composition);
  registerRunListRoutes(app, options.composition);
  registerGraphRoutes(app, options.composition);
  registerAuditRoutes(app, options.composition);
  registerProvenanceRoutes(app, options.composition);
  registerDocsRoutes(app, options.composition);
  registerRunSpecRoutes(app, options.composition);
  registerSessionRoutes(app, options.composition, auth);
  registerOidcSignInRoutes(app, options.composition);
  await registerDashboardRoutes(app);
  registerWebhookRoutes(app, options.composition);
  await registerTriggerRoutes(app, options.composition);
  // Whether the token a stream was opened with is still live (loopback-operator streams have none).
  const stillAllowed = (request: { headers: { authorization?: string | undefined } }) => {
    const header = request.headers.authorization;
    if (auth !== 'tokens' || typeof header !== 'string') return undefined;
    const credential = header.slice('Bearer '.length).trim();
    return async () => (await authorizer.authenticate(credential)) !== null;
  };
  registerLogRoutes(app, options.composition, stillAllowed);
  app.get(
    '/v1/events',
    {
      config: { action: 'events.read' },
      schema: {
        operationId: 'streamEvents',
        summary: 'Every event, as server-sent events (resume with Last-Event-ID or ?after=; ?types= keeps only those types)',
        querystring: eventStreamQuery,
        response: { 200: bytesAnswer('text/event-stream', 'Server-sent events: id (the audit sequence), event (its type), data (the event as JSON)') },
      },
    },
    (request, reply) => streamEvents(service, request, reply, { stillAllowed: stillAllowed(request) }),
  );
  app.get(
    '/v1/runs/:runId/events',
    {
      config: { action: 'events.read' },
      schema: {
        operationId: 'streamRunEvents',
        summary: "A run's events, as server-sent events, ending with the run (?types= keeps only those types)",
        params: runParams,
        querystring: eventStreamQuery,
        response: { 200: bytesAnswer('text/event-stream', 'Server-sent events: id (the audit sequence), event (its type), data (the event as JSON)') },
      },
    },
    (request, reply) => streamEvents(service, request, reply, { runId: request.params.runId, stillAllowed: stillAllowed(request) }),
  );
  // Workspace snapshots and other inputs, stored by the digest of their bytes (what a run spec
  // names). The body reaches the route as the stream it is: `storeUpload` reads it, within the
  // route's limit, straight into storage when it can.
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  const uploadLimitBytes = options.uploadLimitBytes ?? bodyLimits.upload;
  app.post(
    '/v1/blobs',
    {
      bodyLimit: uploadLimitBytes,
      config: { action: 'runs.submit', body: 'upload' },
      schema: {
        operationId: 'storeBlob',
        summary:
          'Store bytes (a workspace snapshot) by their digest; returns it. With x-cairn-digest naming the digest, the bytes go to storage as they arrive (422 when they do not hash to it)',
        headers: z
          .object({
            'x-cairn-digest': z.string().optional().meta({
              description: 'The digest of the bytes sent: they are stored as they arrive, never held whole, and refused (422) when they do not match',
            }),
          })
          .passthrough(),
        response: { 201: z.strictObject({ digest: z.string(), bytes: z.int() }) },
      },
    },
    async (request, reply) => {
      if (!(request.body instanceof Readable)) throw new CairnError('CAIRN_PAYLOAD_INVALID', 'Send the bytes as application/octet-stream.', { path: 'body' });
      const announced = request.headers['x-cairn-digest'];
      const body = request.body;
      try {
        const stored = await storeUpload(storage, body, {
          announcedDigest: typeof announced === 'string' ? announced : undefined,
          contentLength: request.headers['content-length'],
          limitBytes: uploadLimitBytes,
        });
        return await reply.status(201).send(stored);
      } catch (error) {
        // Refused before the body's end (over the limit): the rest is never read, so the
        // connection cannot carry another request; the client is told to open a new one.
        if (!body.readableEnded) void reply.header('connection', 'close');
        throw error;
      }
    },
  );
  // Before the GET, which would otherwise answer HEAD itself by reading the whole blob. Allowed to
  // whoever may upload: a client asks it before sending a snapshot the server may already hold.
  app.head(
    '/v1/blobs/:digest',
    {
      config: { action: 'runs.submit', swagger: { exposeHeadRoute: true } },
      schema: {
        operationId: 'checkBlob',
        summary: 'Whether a blob (an upload) is stored, its length in content-length, without its bytes: 404 when it is not',
        params: digestParams,
        response: { 200: z.null().meta({ description: 'It is stored; content-length is its length' }) },
      },
    },
    async (request, reply) => {
      const metadata = await storage.head(blobKey(request.params.digest));
      if (metadata === null) throw new CairnError('CAIRN_NOT_FOUND', `No blob ${request.params.digest} is stored here.`, { path: 'digest' });
      return reply.header('content-length', metadata.size).header('x-cairn-digest', request.params.digest).send(null);
    },
  );
  app.get(
    '/v1/blobs/:digest',
    {
      config: { action: 'blobs.read' },
      schema: {
        operationId: 'getBlob',
        summary: "A patch, log, output, snapshot or an attempt's signed dispatch manifest by digest, streamed",
        params: digestParams,
        response: { 200: bytesAnswer('application/octet-stream', 'The bytes whose sha256 is the digest') },
      },
    },
    async (request, reply) => {
      return sendBlob(
        reply,
        storage,
        request.params.digest,
        'application/octet-stream',
        () => new CairnError('CAIRN_NOT_FOUND', `No blob ${request.params.digest} is stored here.`, { path: 'digest' }),
        // A dispatch manifest is kept apart from the blobs, under the digest of its exact bytes too.
        [blobKey(request.params.digest), manifestKey(request.params.digest)],
      );
    },
  );
  app.get(
    '/v1/runs/:runId/bundle',
    {
      config: { action: 'audit.read' },
      schema: {
        operationId: 'getRunBundle',
        summary: "A run's evidence bundle (cairn.bundle/v1), to verify offline",
        params: runParams,
        response: {
          200: bytesAnswer('application/json', 'The bundle in its canonical bytes (verify it with cairn verify); x-cairn-signing-key names the key'),
        },
      },
    },
    async (request, reply) => {
      const bundle = await service.exportBundle(request.params.runId);
      return reply
        .type('application/json')
        .header('x-cairn-signing-key', signingKey.keyId)
        .send(Buffer.from(serializeEvidenceBundle(bundle)));
    },
  );
  return app;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request acts as, once authenticated (routes with an action only). */
    actor: AuditActor | null;
    /** The secrets the request's principal may hand to the runs it submits (`secrets:use:` scopes). */
    secretGrants: 'all' | string[] | null;
    /** What an approval policy's `from` is checked against: the principal's roles (a token's `role:` scopes) and groups. */
    voter: Voter | null;
  }
}

/** A run as `GET /v1/runs/{runId}` answers it: with its spend, and why it failed when it did. */
async function runView(service: EngineService, runId: string) {
  const run = await requireRun(service, runId);
  const [spend, spec] = await Promise.all([RunSpend.read(service.auditEntries({ runId: run.runId, action: 'model.called' })), service.spec(run.runId)]);
  const budget = await currentRunBudget(service.auditEntries({ runId: run.runId, action: 'run.budget-raised' }), spec?.budget);
  const spent = {
    ...(spend.run.calls === 0 ? {} : { spend: { total: spend.run, items: spend.items() } }),
    ...(budget === undefined ? {} : { budget }),
    ...fetchedWorkspaceView(spec?.workspace),
  };
  if (run.itemsFailed === 0) return { ...run, ...spent };
  // Why it failed, in the answer that says it did: items are read only for runs with failures.
  const failedItems = (await service.items(run.runId))
    .filter((item) => item.state === 'failed')
    .map((item) => ({ itemId: item.itemId, failure: item.failure }));
  return { ...run, failedItems, ...spent };
}

/** A workspace fetched from a repository, as the Run view says it: what the run ran on. */
function fetchedWorkspaceView(workspace: WorkspaceSpec | undefined) {
  const { repository, ref, commit, snapshot } = workspace ?? {};
  if (repository === undefined || ref === undefined || commit === undefined || snapshot === undefined) return {};
  return { workspace: { repository, ref, commit, snapshot } };
}
