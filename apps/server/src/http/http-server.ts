import fastifySwagger from '@fastify/swagger';
import { CairnError, decodeRunSpec, isCairnError } from '@cairn/protocol';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import { logRequests } from '../logging/request-logging.ts';
// In this order: a zod schema with an id registers as its module loads, and the OpenAPI document
// (and docs/reference/http.md, generated from it) lists the components in that order.
import { registerDocsRoutes } from './docs-routes.ts';
import { replyWithError } from './error-replies.ts';
import type { HttpApp } from './http-app.ts';
import { registerGraphRoutes } from './graph-routes.ts';
import { registerLogRoutes } from './log-routes.ts';
import { isLoopback } from './loopback.ts';
import { checkRequestOrigin, hostNamesOf } from './browser-requests.ts';
import { RefusalLog } from './refusal-log.ts';
import { bodyLimits } from './body-limits.ts';
import { answerClientError } from './client-errors.ts';
import { connectionCapOf, isRefusedConnection, limitConnections, openFilesLimit } from './connection-limit.ts';
import { transformComponents } from './openapi-components.ts';
import { openApiSecurityComponents, openApiTags, transformWithScopes } from './openapi-scopes.ts';
import { declareErrorResponses } from './response-schemas.ts';
import { registerRunListRoutes } from './run-list-routes.ts';
import { registerRunSpecRoutes } from './run-spec-routes.ts';
import { registerSecretRoutes } from './secret-routes.ts';
import { serverModules } from '../composition/modules.ts';
import { registerBlobRoutes } from './blob-routes.ts';
import { registerEventRoutes } from './event-routes.ts';
import { identifyRequests } from './identify-requests.ts';
import { standVoters } from './voter-standing.ts';
import { registerOperationRoutes } from './operation-routes.ts';
import { registerRunRoutes } from './run-routes.ts';

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

/**
 * The HTTP API over a composed server: runs (submit, list, read, cancel), items (approve, reject,
 * cancel, patch), events as resumable server-sent events, blobs by digest (streamed), evidence
 * bundles and the NDJSON audit export, schedules, secrets, tokens and webhooks, metrics, health,
 * the OpenAPI document at /openapi.json and a page of it at /docs. It only assembles: the hooks
 * every route shares are here, each group of routes is a `register<Topic>Routes` of its own file.
 * Every answer is declared in the document; every error is `{ code, message, action, path?,
 * issues? }` with the CairnError catalogue's status. Every `/v1`
 * route names its action; a request carries a bearer token whose scopes allow it (401 without a
 * valid one, 403 without the scope, audited as `access.denied`; `identify-requests.ts`) — or, with
 * `auth: 'loopback-operator'` on a loopback host, acts as the operator when it comes from the
 * server's own user and not from a browser. Before any of that, a request naming a host the server
 * does not answer to, or sent by a browser for a page of another origin, is refused
 * (`browser-requests.ts`).
 */
export async function buildHttpApi(options: HttpApiOptions): Promise<HttpApp> {
  const auth = options.auth ?? 'tokens';
  if (auth === 'loopback-operator' && !isLoopback(options.host)) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `server.auth 'loopback-operator' lets anyone who reaches the server act as its operator: it binds loopback only, not ${options.host}. Bind 127.0.0.1, or use auth: tokens.`,
      { path: 'config.server.host' },
    );
  }
  const { authorizer } = options.composition;
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
  const originRefusals = new RefusalLog((count, last) =>
    app.log.warn(
      { refused: count, ...last },
      'requests refused for their Host or origin (a page of another origin, or a rebound name); counted in cairn_http_browser_requests_refused_total',
    ),
  );
  app.addHook('onRequest', async (request, reply) => {
    // Answered 503 already (over the connection cap): a request that came on it is read and dropped.
    if (isRefusedConnection(request.raw.socket)) {
      reply.hijack();
      return;
    }
    // Every answer, streams and blobs included: a browser never guesses a type other than the one sent.
    reply.raw.setHeader('x-content-type-options', 'nosniff');
    try {
      checkRequestOrigin(request, hosts);
    } catch (error) {
      const reason = isCairnError(error) && error.path === 'headers.host' ? 'host' : 'origin';
      options.composition.metrics.refusedBrowserRequest(reason);
      originRefusals.saw(reason, request.headers);
      throw error;
    }
  });
  const cap = connectionCapOf(openFilesLimit(), options.maxConnections);
  let refusedSince = 0;
  limitConnections(app.server, cap, () => {
    // Said at most once a minute: a flood of refusals must not become a flood of log lines.
    if (Date.now() - refusedSince < 60_000) return;
    refusedSince = Date.now();
    app.log.warn({ maxConnections: cap }, 'connections refused with 503: the server holds as many as it takes (server.maxConnections)');
  });
  identifyRequests(app, options.composition, auth);
  standVoters(app, options.composition);
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

  // In this order: the OpenAPI document lists paths as they are first registered.
  registerOperationRoutes(app, options.composition);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerRunRoutes(app, options.composition);
  registerSecretRoutes(app, options.composition);
  registerRunListRoutes(app, options.composition);
  registerGraphRoutes(app, options.composition);
  registerDocsRoutes(app, options.composition);
  registerRunSpecRoutes(app, options.composition);
  // The capability modules' routes (access, schedules, evidence, dashboard, webhooks, triggers), in the module list's order.
  for (const module of serverModules) await module.routes?.(app, options.composition, { auth });
  // Whether the token a stream was opened with is still live (loopback-operator streams have none).
  const stillAllowed = (request: { headers: { authorization?: string | undefined } }) => {
    const header = request.headers.authorization;
    if (auth !== 'tokens' || typeof header !== 'string') return undefined;
    const credential = header.slice('Bearer '.length).trim();
    return async () => (await authorizer.authenticate(credential)) !== null;
  };
  registerLogRoutes(app, options.composition, stillAllowed);
  registerEventRoutes(app, options.composition, stillAllowed);
  registerBlobRoutes(app, options.composition, options.uploadLimitBytes ?? bodyLimits.upload);
  return app;
}
