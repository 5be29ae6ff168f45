import type { AuditAnchorV1, AuthorizerV1, CipherV1, ExecutorV1, Logger, PublicKeyRecord, SignerV1, StorageProviderV1 } from '@cairn/core';
import { TokenAuthorizer } from '../auth/token-authorizer.ts';
import { TokenStore } from '../auth/token-store.ts';
import { ServerMetrics } from '../metrics/server-metrics.ts';
import type { Engine, EngineObserver } from '@cairn/engine';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { agentRuntimeSettings } from './agent-runtime-settings.ts';
import { WebhookDispatcher } from '../webhooks/webhook-dispatcher.ts';
import { WebhookEndpoints } from '../webhooks/webhook-endpoints.ts';
import { WebhookStore } from '../webhooks/webhook-store.ts';

/** What a server is made of: the engine and the seams it composes. */
export interface ServerComposition {
  readonly engine: Engine;
  readonly storage: StorageProviderV1;
  readonly signer: SignerV1;
  readonly cipher: CipherV1;
  readonly anchors: readonly AuditAnchorV1[];
  /** The signer's public key, as verifiers pin it. */
  readonly signingKey: PublicKeyRecord;
  /** The server's bearer tokens (hashed) and the authorizer over them. */
  readonly tokens: TokenStore;
  readonly authorizer: AuthorizerV1;
  readonly metrics: ServerMetrics;
  /** Webhook endpoints (secrets encrypted with `cipher`) and their deliveries. */
  readonly webhooks: WebhookEndpoints;
  /** Sends the engine's events to the endpoints; `start()` it with the engine, `close()` stops it. */
  readonly webhookDispatcher: WebhookDispatcher;
  /** Stops the webhook dispatcher and the engine and closes their databases. */
  close(): Promise<void>;
}

export interface ComposeServerOptions {
  readonly logger?: Logger;
  /**
   * Executors by name, instead of the one `config.executor` describes (items that name none use
   * the first). For embedding a server over executors of one's own, and for benchmarks that
   * measure the server without sandboxes.
   */
  readonly executors?: Readonly<Record<string, ExecutorV1>>;
  /** Webhook delivery timing (tests shorten the Standard Webhooks schedule). */
  readonly webhooks?: { readonly retrySchedule?: readonly number[]; readonly timeoutMs?: number };
}

/**
 * Builds every seam the config names and the engine over them. Seam packages are imported when a
 * config names them, not before: a local server never loads a cloud SDK. Keys must exist already
 * (`cairn init` makes them): a server never invents a signing key at boot.
 */
export async function composeServer(loaded: LoadedServerConfig, options: ComposeServerOptions = {}): Promise<ServerComposition> {
  const { config, paths } = loaded;
  // Only 'local' exists today; each kind is one lazy import.
  const local = await import('@cairn/local');
  const { createEngine } = await import('@cairn/engine');
  const storage = local.createLocalStorageProvider({ root: paths.storage });
  const signer = local.createLocalSigner({ keyFile: paths.signingKey });
  const cipher = local.createLocalCipher({ keyFile: paths.cipherKey });
  const anchors = paths.anchors.map((directory) => local.createLocalAuditAnchor({ directory }));
  const signingKey: PublicKeyRecord = {
    keyId: await signer.keyId(),
    algorithm: signer.algorithm,
    publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
  };
  const runtimes = agentRuntimeSettings(config.runtimes);
  const executors = options.executors ?? {
    local: local.createLocalExecutor({
      storage,
      trustedKeys: [signingKey],
      stateDirectory: paths.executions,
      workRoot: paths.work,
      sandbox: config.executor.sandbox,
      ...runtimes.executor,
      ...(options.logger ? { logger: options.logger } : {}),
    }),
  };
  const metrics = new ServerMetrics();
  // OpenTelemetry is imported only when traces are configured.
  const tracing = config.telemetry.traces
    ? await (await import('../telemetry/start-tracing.ts')).startTracing(config.telemetry.traces, options.logger)
    : undefined;
  const engine = createEngine({
    observer: tracing ? bothObservers(metrics.observer, tracing.observer) : metrics.observer,
    database: paths.database,
    executors,
    // Executors given by the embedder run whatever runtimes they have; ours run the configured ones.
    ...(options.executors ? {} : { adapters: runtimes.adapters }),
    adapterSecrets: runtimes.adapterSecrets,
    storage,
    signer,
    cipher,
    anchors,
    concurrency: config.engine.concurrency,
    queues: config.engine.queues,
    checkpoints: { origin: config.engine.origin },
    ...(options.logger ? { logger: options.logger } : {}),
  });
  metrics.watch(engine);
  tracing?.start(engine);
  const tokens = new TokenStore(paths.tokens);
  const webhookStore = new WebhookStore(paths.webhooks);
  const webhooks = new WebhookEndpoints({ store: webhookStore, cipher, audit: engine.audit });
  const webhookDispatcher = new WebhookDispatcher({
    store: webhookStore,
    endpoints: webhooks,
    engine,
    ...options.webhooks,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const close = async () => {
    // The dispatcher reads the engine's database: it stops first.
    await webhookDispatcher.stop();
    await tracing?.stop();
    await engine.close();
    webhookStore.close();
  };
  return { engine, storage, signer, cipher, anchors, signingKey, tokens, authorizer: new TokenAuthorizer(tokens), metrics, webhooks, webhookDispatcher, close };
}

/** Both observers hear every hook either has (the engine takes one). */
function bothObservers(first: EngineObserver, second: EngineObserver): EngineObserver {
  const hooks = ['attemptStarted', 'attemptEnded', 'anchorFailed'] as const;
  return Object.fromEntries(
    hooks.flatMap((hook) => {
      const one = first[hook] as ((event: unknown) => void) | undefined;
      const other = second[hook] as ((event: unknown) => void) | undefined;
      if (!one && !other) return [];
      return [[hook, (event: unknown) => (one?.(event), other?.(event))]];
    }),
  ) as EngineObserver;
}
