import type { CipherV1, Logger, StorageProviderV1 } from '@cairn/core';
import type { ServerDelivery } from '../capabilities/delivery/compose-delivery.ts';
import type { EngineService, LeaderTask } from '@cairn/engine';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { HttpApp } from '../http/http-app.ts';
import type { ServerMetrics } from '../metrics/server-metrics.ts';
import type { ServerPostgres } from '../store/postgres/server-postgres.ts';
import type { ServerTracing } from '../telemetry/start-tracing.ts';
import type { ServerComposition } from './server-composition.ts';

/**
 * A capability of the server as one module (ADR 0048): what it starts from what the server made
 * before it, how that closes, and the routes it answers. Its folder under `capabilities/` holds the
 * rest (config piece, store, logic); `composition/modules.ts` lists the modules in start order, and
 * the server closes them in reverse (fastify's plugins and their `onClose` are the model).
 */
export interface ServerModule<Context, Name extends string, Started> {
  readonly name: Name;
  /** Starts what the module holds; a module that fails to start closes those started before it. None for a module of routes alone. */
  start?(context: Context): Promise<Started>;
  /** Closes what `start` gave, after the modules started after it. */
  close?(started: Started): Promise<void> | void;
  /** Registers its HTTP routes (after the server's own, in the list's order). */
  routes?(app: HttpApp, composition: ServerComposition, http: ModuleRouteSettings): Promise<void> | void;
}

/** What the HTTP app tells the routes of every module. */
export interface ModuleRouteSettings {
  /** How requests are authenticated: bearer tokens, or the loopback operator (`server.auth`). */
  readonly auth: 'tokens' | 'loopback-operator';
}

/** What a module that starts before the engine is given: the config, the seams and the server's shared parts. */
export interface ModuleContext {
  readonly loaded: LoadedServerConfig;
  readonly storage: StorageProviderV1;
  readonly cipher: CipherV1;
  readonly metrics: ServerMetrics;
  /** Present when `telemetry.traces` is configured. */
  readonly tracing?: ServerTracing;
  /** The server's PostgreSQL pool, with `engine.state: {kind: postgres}`: modules keep their tables there, shared by the replicas. */
  readonly database?: ServerPostgres;
  /** The engine's service, read per call: it exists once the engine has started, after these modules. */
  readonly service: () => EngineService;
  readonly logger?: Logger;
}

/** What a module that starts after the engine is given, besides: the service, and a way to run only on the replica that runs the engine. */
export interface EngineModuleContext extends Omit<ModuleContext, 'service'> {
  readonly service: EngineService;
  /** Runs `task` while this replica runs the engine: always on SQLite; on PostgreSQL while it holds the writer lease. */
  whileLeading(task: LeaderTask): LeaderTask;
  /** The forges deliver items push to, when the config has any (`forges:`): the review loop comments on their pull requests. */
  readonly delivery?: ServerDelivery;
  /** Webhook delivery timing (tests shorten the Standard Webhooks schedule). */
  readonly webhookTiming?: { readonly retrySchedule?: readonly number[]; readonly timeoutMs?: number; readonly endpointCheckMs?: number };
}
