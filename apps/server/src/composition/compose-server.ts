import { dirname } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { ExecutorV1, Logger, PublicKeyRecord } from '@cairn/core';
import { createOidcAuthorizer } from '@cairn/oidc';
import { BearerAuthorizer } from '../capabilities/access/bearer-authorizer.ts';
import { OidcSignIn } from '../capabilities/access/oidc-sign-in.ts';
import { TokenAuthorizer } from '../capabilities/access/token-authorizer.ts';
import { scopeOfAction } from '../capabilities/access/token-scopes.ts';
import { FileTokenStore } from '../capabilities/access/file-token-store.ts';
import { importTokenFile } from '../capabilities/access/import-token-file.ts';
import type { TokenStore } from '../capabilities/access/token-store.ts';
import type { LogSinkHealth } from '../logging/log-sink-health.ts';
import type { ServerComposition } from './server-composition.ts';
import { ServerMetrics } from '../metrics/server-metrics.ts';
import type { ServerPostgres } from '../store/postgres/server-postgres.ts';
import { deliverExecutorName, type EngineObserver, type EngineService, type EngineSettings } from '@cairn/engine';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { agentRuntimeSettings } from './agent-runtime-settings.ts';
import { DiskRoom } from './disk-room.ts';
import { executorSweep } from './executor-sweep.ts';
import { composeDelivery } from '../capabilities/delivery/compose-delivery.ts';
import { buildSeam, seamFactories } from './seam-factories.ts';
import { StartedParts } from './started-parts.ts';
import { modulesAfterEngine, modulesBeforeEngine, startModules } from './modules.ts';
import type { EngineModuleContext, ModuleContext } from './server-module.ts';
import { fetchScheduledWorkspace, withRepositoryWorkspaces, type RepositoryWorkspacesSettings } from '../workspaces/repository-workspaces.ts';
import { networkPolicyOf } from '../config/network-policy-config-schema.ts';

export interface ComposeServerOptions {
  readonly logger?: Logger;
  /** The health of the sink `logger` writes to (`FileDescriptorSink.health`), for `/readyz` and `/metrics`. */
  readonly logSink?: LogSinkHealth;
  /**
   * Executors by name, instead of the one `config.executor` describes (items that name none use
   * the first). For embedding a server over executors of one's own, and for benchmarks that
   * measure the server without sandboxes.
   */
  readonly executors?: Readonly<Record<string, ExecutorV1>>;
  /**
   * Whether seams that can check their backend (`probe()`: the S3 storage and anchor, the KMS
   * signer and cipher) are checked before the engine is built; a failed check throws its
   * CairnError. Default true; `cairn doctor` runs the checks itself, one finding each.
   */
  readonly probe?: boolean;
  /** Webhook delivery timing (tests shorten the Standard Webhooks schedule). */
  readonly webhooks?: { readonly retrySchedule?: readonly number[]; readonly timeoutMs?: number; readonly endpointCheckMs?: number };
}

/**
 * Builds every seam the config names (through `seamFactories`, by kind) and the engine over them.
 * Seam packages are imported when a config names them, not before: a local server never loads a
 * cloud SDK. Keys must exist already
 * (`cairn init` makes them): a server never invents a signing key at boot.
 */
export async function composeServer(loaded: LoadedServerConfig, options: ComposeServerOptions = {}): Promise<ServerComposition> {
  const { config, paths } = loaded;
  const { createEngineHost } = await import('@cairn/engine');
  const context = { loaded, ...(options.logger ? { logger: options.logger } : {}) };
  const storage = await buildSeam(seamFactories.storage, config.storage, { ...context, where: 'config.storage' });
  const signer = await buildSeam(seamFactories.signer, config.signer, { ...context, where: 'config.signer' });
  // The old key of a rotation (ADR 0019): built by the same factories, a key file at its own path.
  const previousSigner =
    config.previousSigner &&
    (await buildSeam(seamFactories.signer, config.previousSigner, {
      ...context,
      loaded: { ...loaded, paths: { ...loaded.paths, signingKey: loaded.paths.previousSigningKey ?? loaded.paths.signingKey } },
      where: 'config.previousSigner',
    }));
  const cipher = await buildSeam(seamFactories.cipher, config.cipher, { ...context, where: 'config.cipher' });
  const anchors = await Promise.all(
    config.anchors.map((anchor, index) => buildSeam(seamFactories.anchor, anchor, { ...context, where: `config.anchors[${index}]`, index })),
  );
  // A seam that can check its backend before use is checked now: a server refuses to start
  // rather than run on a bucket that would let two writers overwrite each other (S3: conditional
  // writes enforced), an anchor that can be rewritten (Object Lock on), or a KMS key it cannot
  // use (a checkpoint it could not sign, a secret it could not decrypt, found only mid-run).
  if (options.probe !== false) {
    await Promise.all([storage, ...anchors].map(async (seam) => probeOf(seam)?.()));
    await Promise.all([
      refuseFailedKeyProbe(signer, 'config.signer'),
      refuseFailedKeyProbe(cipher, 'config.cipher'),
      ...(previousSigner ? [refuseFailedKeyProbe(previousSigner, 'config.previousSigner')] : []),
    ]);
  }
  const signingKey: PublicKeyRecord = {
    keyId: await signer.keyId(),
    algorithm: signer.algorithm,
    publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
  };
  const runtimes = agentRuntimeSettings(config.runtimes);
  // The configured executor is named by its kind (`local`, `fargate`, `kubernetes`): what items may name as `executor`.
  const metrics = new ServerMetrics();
  const executors = options.executors ?? {
    [config.executor.kind]: await buildSeam(seamFactories.executor, config.executor, {
      ...context,
      where: 'config.executor',
      storage,
      cipher,
      signingKey,
      runtimes,
      observeSandboxClaim: (claim) => metrics.observeSandboxClaim(claim),
    }),
  };
  // Deliver items run in this process, on the forges of the config (ADR 0040): none configured, none run.
  const delivery = await composeDelivery(config, { storage, signer, service: () => serviceOf!(), ...(options.logger ? { logger: options.logger } : {}) });
  // Each part that holds something until closed, in the order it starts: one that fails to start
  // closes those before it, and the server's close closes them all in reverse.
  const parts = new StartedParts();
  // The configured executor may hold something open (the Kubernetes executor's pod watch): closed
  // last, after the engine that uses it. Executors given by the embedder are the embedder's to close.
  await parts.startInOrder(
    'executor',
    () => (options.executors ? [] : Object.values(executors)),
    async (built) => {
      for (const executor of built) await closeOf(executor)?.();
    },
  );
  // OpenTelemetry is imported only when traces are configured.
  const tracing = await parts.startInOrder(
    'tracing',
    async () =>
      config.telemetry.traces
        ? (await import('../telemetry/start-tracing.ts')).startTracing(config.telemetry.traces, options.logger, (adapter) => config.gateway.adapters[adapter])
        : undefined,
    (started) => started?.stop(),
  );
  // Before the modules: on PostgreSQL they keep their tables in the server's database.
  const { tokens, database } = await parts.startInOrder(
    'stores',
    () => serverStores(loaded, options.logger),
    (stores) => stores.closeStores(),
  );
  // The engine's service is read per call by the modules started before it (the gateway).
  let serviceOf: (() => EngineService) | undefined;
  const moduleContext: ModuleContext = {
    loaded,
    storage,
    cipher,
    metrics,
    ...(tracing ? { tracing } : {}),
    ...(database ? { database } : {}),
    service: () => serviceOf!(),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  const { gateway, runners } = await startModules(parts, modulesBeforeEngine, moduleContext);
  // Runs naming `workspace: { repository, ref }` are fetched at submit (whoever submits them), a schedule's at each slot.
  const workspaces: RepositoryWorkspacesSettings = {
    storage,
    config: config.workspaces,
    maxBytes: config.server.uploadLimitMiB * 1024 * 1024,
    // The forges deliveries push with: a GitHub App's installation token is minted once for both.
    forges: delivery?.forges,
  };
  const engineSettings: Omit<EngineSettings, 'database'> = {
    observer: tracing ? bothObservers(metrics.observer, tracing.observer) : metrics.observer,
    // Runners' attempts go to one executor, `runners`, beside the configured one (ADR 0050).
    executors: { ...executors, ...(runners ? { runners } : {}), ...(delivery ? { [deliverExecutorName]: delivery.executor } : {}) },
    ...(delivery ? { forges: delivery.forges.names } : {}),
    // Executors given by the embedder run whatever runtimes they have; ours run the configured ones.
    ...(options.executors ? {} : { adapters: runtimes.adapters }),
    adapterSecrets: runtimes.adapterSecrets,
    // The policy alone: the proxy's own settings (limits, name servers, trust) are the executor's.
    // A kubernetes executor's `network` is its pods' NetworkPolicy, not a bound on specs: it enforces no allow-list.
    ...(config.executor.kind !== 'kubernetes' && config.executor.network ? { networkPolicy: networkPolicyOf(config.executor.network) } : {}),
    storage,
    signer,
    // A KMS key signs once per process (the delegation), not per dispatch: one remote,
    // rate-limited call per item would cap throughput (ADR 0020). A key file signs in-process.
    manifestSigner: config.signer.kind === 'kms' ? 'delegated' : 'signer',
    ...(previousSigner ? { previousSigner } : {}),
    cipher,
    anchors,
    concurrency: config.engine.concurrency,
    queues: config.engine.queues,
    priorityAgingSeconds: config.engine.priorityAgingSeconds,
    checkpoints: { origin: config.engine.origin },
    ...(gateway ? { gateway: gateway.issuer } : {}),
    ...(tracing ? { attemptTraceContext: tracing.attemptTraceContext } : {}),
    fetchWorkspace: (spec) => fetchScheduledWorkspace(spec, workspaces),
    ...(options.logger ? { logger: options.logger } : {}),
  };
  const state = config.engine.state;
  const running = await parts.startInOrder(
    'engine',
    () => createEngineHost({ state: state.kind === 'postgres' ? state : { kind: 'sqlite', path: paths.database }, engine: engineSettings }),
    (host) => host.close(),
  );
  serviceOf = () => running.service;
  // Whenever this process runs the engine, what ended attempts left behind (a Kubernetes
  // executor's pods) is swept, live attempts left to the engine; stopped before the engine closes.
  const sweep = await parts.startInOrder(
    'executor sweep',
    () => running.whileLeading(executorSweep(options.executors ? [] : Object.values(executors), () => running.service.modelCalls, options.logger)),
    (task) => task.stop(),
  );
  const service = withRepositoryWorkspaces(running.service, workspaces);
  metrics.watch(service);
  if (options.logSink) metrics.watchLogSink(options.logSink);
  // Followed while the engine runs: listed after it, so it stops reading the engine's events
  // before the engine closes, while the exporter (started first) sends the spans last.
  await parts.startInOrder(
    'trace follower',
    () => tracing?.start(service),
    () => tracing?.unfollow(),
  );
  const engineModuleContext: EngineModuleContext = {
    ...moduleContext,
    service,
    whileLeading: (task) => running.whileLeading(task),
    ...(delivery ? { delivery } : {}),
    ...(options.webhooks ? { webhookTiming: options.webhooks } : {}),
  };
  const { webhooks, triggers } = await startModules(parts, modulesAfterEngine, engineModuleContext);
  // Last, so closed first: a delivery under way finishes (its push is not cut halfway) and records its result while the engine runs.
  await parts.startInOrder(
    'deliveries',
    () => delivery,
    (started) => started?.executor.settled(),
  );
  // The authorizer's settings, apart from the clients people sign in through (ADR 0039).
  const oidc = config.server.oidc && (({ dashboard, cli, ...authorizer }) => ({ authorizer, clients: { dashboard, cli } }))(config.server.oidc);
  return {
    get engine() {
      return running.engine;
    },
    service,
    start: () => {
      running.start();
      sweep.start();
    },
    checkSigner: () => running.checkSigner(),
    storage,
    signer,
    cipher,
    anchors,
    signingKey,
    origin: config.engine.origin,
    tokens,
    // With an OpenID provider configured, its JWTs are accepted beside the tokens (ADR 0039).
    authorizer: oidc
      ? new BearerAuthorizer(
          new TokenAuthorizer(tokens),
          createOidcAuthorizer(oidc.authorizer, {
            actionScopes: scopeOfAction,
            // Its errors name the options as the config spells them (server.oidc.issuer).
            settingsPath: 'server.oidc',
            ...(options.logger ? { logger: options.logger } : {}),
          }),
        )
      : new TokenAuthorizer(tokens),
    ...(oidc && (oidc.clients.dashboard || oidc.clients.cli)
      ? { signIn: new OidcSignIn(oidc.authorizer.issuer, oidc.clients, oidc.authorizer.requestTimeoutMs) }
      : {}),
    metrics,
    ...(options.logSink ? { logSink: options.logSink } : {}),
    diskRoom: new DiskRoom([
      paths.dataDirectory,
      ...(state.kind === 'sqlite' ? [dirname(paths.database)] : []),
      ...(paths.storage === undefined ? [] : [paths.storage]),
      ...(config.executor.kind === 'local' ? [paths.executions, paths.work] : []),
    ]),
    webhooks: webhooks.endpoints,
    webhookDispatcher: webhooks.dispatcher,
    ...(gateway ? { gatewayUrl: gateway.url } : {}),
    ...(runners ? { runners } : {}),
    triggers,
    close: () => parts.closeInReverse(),
  };
}

/**
 * The server's own stores: the token file of the data directory, or with `engine.state: {kind:
 * postgres}` a table in the engine's database (one pool for it and the modules' tables, made or
 * brought up to date now), so that replicas need no shared folder. Modules open their own stores
 * over `database` (or their files in the data directory).
 */
async function serverStores(
  loaded: LoadedServerConfig,
  logger: Logger | undefined,
): Promise<{ tokens: TokenStore; database?: ServerPostgres; closeStores(): Promise<void> }> {
  const state = loaded.config.engine.state;
  if (state.kind !== 'postgres') return { tokens: new FileTokenStore(loaded.paths.tokens), closeStores: async () => undefined };
  const [{ ServerPostgres }, { PostgresTokenStore }] = await Promise.all([
    import('../store/postgres/server-postgres.ts'),
    import('../capabilities/access/store/postgres-token-store.ts'),
  ]);
  const database = await ServerPostgres.open(state);
  const tokens = new PostgresTokenStore(database);
  try {
    await importTokenFile(loaded.paths.tokens, tokens, logger);
  } catch (error) {
    await database.close();
    throw error;
  }
  return { tokens, database, closeStores: () => database.close() };
}

/** A seam's `probe()`, when it has one (an optional ability of the S3 seams, not part of the contracts). */
export function probeOf(seam: object): (() => Promise<unknown>) | undefined {
  const probe = (seam as { probe?: unknown }).probe;
  return typeof probe === 'function' ? () => (probe as () => Promise<unknown>).call(seam) : undefined;
}

/** An executor's `close()`, when it has one (an optional ability, not part of the contract: the Kubernetes executor's). */
function closeOf(executor: object): (() => Promise<void> | void) | undefined {
  const close = (executor as { close?: unknown }).close;
  return typeof close === 'function' ? () => (close as () => Promise<void> | void).call(executor) : undefined;
}

/** What a KMS seam's `probe()` answers: every check, passed or failed with its fix (`@cairn/kms`'s `KmsProbeReport`). */
export interface KeyProbeReport {
  readonly ok: boolean;
  readonly key: string;
  readonly checks: readonly { readonly name: string; readonly status: string; readonly detail: string; readonly fix?: string }[];
}

/**
 * Runs a key seam's `probe()` when it has one and refuses a report with a failed check:
 * CAIRN_CONFIG_INVALID naming the option, the key, each failed check and its fix.
 */
async function refuseFailedKeyProbe(seam: object, where: string): Promise<void> {
  const report = (await probeOf(seam)?.()) as KeyProbeReport | undefined;
  if (!report || report.ok) return;
  const failed = report.checks.filter((check) => check.status === 'fail');
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `${where}: the KMS key ${report.key} cannot serve this server: ${failed.map((check) => `${check.name}: ${check.detail}${check.fix ? ` (fix: ${check.fix})` : ''}`).join('; ')}. \`cairn doctor\` lists every check.`,
    { path: where },
  );
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
