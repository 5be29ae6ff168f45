import type { AuditAnchorV1, CipherV1, ExecutorV1, Logger, RunSpecV1, SignerV1, StorageProviderV1 } from '@cairn/core';
import { z } from 'zod';
import type { EngineDatabase } from './store/shared/engine-database.ts';
import { defaultPriorityAgingSeconds } from './store/sqlite/dispatch-order.ts';
import type { AttemptGatewayIssuer } from './dispatch/attempt-gateway.ts';
import type { AttemptTraceContext } from './dispatch/attempt-trace-context.ts';
import type { EngineObserver } from './engine-observer.ts';
import type { GroupCommit } from './store/group-commit.ts';

const seam = (name: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1', {
    message: `must be a ${name} (an object with specificationVersion 'v1')`,
  });

/** Settings of `createEngine`, checked at construction; errors name the option. */
export const engineSettingsSchema = z.strictObject({
  /** A path to the SQLite database (created if missing), or an open one (`openEngineDatabase` from `@cairn/engine/internals`). */
  database: z.union([
    z.string().min(1, 'must not be empty'),
    z.custom<object>((value) => typeof value === 'object' && value !== null && 'prepare' in value, 'must be a path or an open engine database'),
  ]),
  executors: z.record(z.string(), seam('ExecutorV1')).refine((executors) => Object.keys(executors).length > 0, 'must name at least one executor'),
  /**
   * The agent adapters the executors run (`claude-code`, `openai-compatible`): an agent item naming
   * another is refused at submit, listing these. Absent, any adapter name passes submit.
   */
  adapters: z.array(z.string().min(1)).optional(),
  /**
   * The forges deliver items may name (`runtime.forge`): deliver items run on the executor named
   * `deliver`, which the server composes when it has forges. Without one, deliver items are
   * refused at submit.
   */
  forges: z.array(z.string().min(1)).default([]),
  /** Secrets an item running an adapter must name: the API key its runtime is configured with. */
  adapterSecrets: z.record(z.string().min(1), z.array(z.string().min(1))).default({}),
  /**
   * Bounds on the network allow-lists a spec may hold (ADR 0049): `allow` and `deny` entries as an
   * item's (`host`, `*.domain`, either with `:port`), and for each secret the hosts a credential
   * may send it to. Refused at submit at the entry's JSON path. The server's `executor.network`.
   */
  networkPolicy: z
    .strictObject({
      allow: z.array(z.string().min(1)).optional(),
      deny: z.array(z.string().min(1)).optional(),
      credentialHosts: z.record(z.string().min(1), z.array(z.string().min(1))).optional(),
    })
    .optional(),
  /** The executor items use when they name none; the first of `executors` by default. */
  defaultExecutor: z.string().min(1).optional(),
  storage: seam('StorageProviderV1'),
  signer: seam('SignerV1'),
  /**
   * What signs dispatch manifests: `signer` itself (one signature per dispatch), or `delegated`, an
   * Ed25519 key this process makes and `signer` vouches for once (a delegation statement, stored
   * and audited as `key.delegated`): use it when `signer` is remote or rate-limited (KMS).
   * Workers and verifiers accept a delegated manifest through its statement (ADR 0020).
   */
  manifestSigner: z.enum(['signer', 'delegated'], 'must be signer or delegated').default('signer'),
  /**
   * The signer of the key the audit log was signed with until now, to rotate to a new `signer`: the
   * old key signs the handover (a `signer.rotated` entry, ADR 0019). Without it, an engine whose
   * `signer` is not the log's key refuses to sign anything (CAIRN_CONFIG_INVALID). Ignored once the
   * log is the signer's: it may stay configured after the rotation.
   */
  previousSigner: seam('SignerV1').optional(),
  /** Attempts running at once across all runs. */
  concurrency: z.int().min(1).max(100_000).default(16),
  /** Named queues with their own limits; an item naming another queue is refused at submit. */
  queues: z.record(z.string().min(1), z.strictObject({ concurrency: z.int().min(1).max(100_000) })).default({}),
  /**
   * Anti-starvation for priorities: a ready item rises one priority level for every this many
   * seconds it has waited (continuously, past 5), so a priority-1 item waits at most 4 × this
   * behind fresh priority-5 items. Applies to items as they become ready. A year is, in practice,
   * strict priority.
   */
  priorityAgingSeconds: z.int().min(1).max(31_536_000).default(defaultPriorityAgingSeconds),
  /** How often executors that do not push completions are inspected. */
  reconcileIntervalMs: z.int().min(1).max(3_600_000).default(500),
  /**
   * How long past an item's timeout the engine waits before it stops the attempt itself. The worker
   * times the runtime from its start, once the sandbox and the workspace are ready, and reports
   * the timeout with what the runtime did; the engine's deadline, counted from the dispatch, is the
   * backstop for a task that no one stopped, and must not cut in before the worker's own.
   */
  timeoutGraceMs: z.int().min(0).max(3_600_000).default(30_000),
  /** Where checkpoints are anchored (none: checkpoints are kept in the database only). */
  anchors: z.array(seam('AuditAnchorV1')).default([]),
  /** Checkpoint policy: every N entries, every T, and at each run's end. */
  checkpoints: z
    .strictObject({
      origin: z.string().min(1).default('cairn:engine'),
      everyEntries: z.int().min(1).default(1_000),
      everyMs: z.int().min(1).default(60_000),
    })
    .prefault({}),
  /** Encrypts the secrets items name; without it, no secrets can be set and items naming one are refused. */
  cipher: seam('CipherV1').optional(),
  /** Issues agent attempts the model gateway's URL and a credential (ADR 0033); none without it. */
  gateway: z
    .custom<AttemptGatewayIssuer>(
      (value) => typeof value === 'object' && value !== null && typeof (value as AttemptGatewayIssuer).issue === 'function',
      'must be an object with an issue(attempt) method',
    )
    .optional(),
  /**
   * Fetches the workspace of a schedule slot's spec that names `workspace.repository`, filling in
   * its `commit` and `snapshot` (the server does, as it does for a submit): asked when the slot is
   * due, outside the engine's transactions, the slot firing once it answers; a rejection is the
   * slot's failure, audited (`schedule.fired`, outcome failure, with its code and message).
   * Without it, such a slot's run is refused as unfetched.
   */
  fetchWorkspace: z
    .custom<(spec: RunSpecV1) => Promise<RunSpecV1>>((value) => typeof value === 'function', 'must be a function (spec) => Promise<spec>')
    .optional(),
  /** How often the storage's `inbox/` is read for dropped run specs; `false` turns the inbox off. */
  inboxPollMs: z.union([z.int().min(100).max(3_600_000), z.literal(false)]).default(2_000),
  /** How long an item waits for approval before it fails. */
  approvalTimeoutMs: z
    .int()
    .min(1)
    .max(365 * 24 * 3_600_000)
    .default(7 * 24 * 3_600_000),
  /** Told about attempts and anchor failures, for metrics. */
  observer: z.custom<EngineObserver>((value) => typeof value === 'object' && value !== null, 'must be an object of hook functions').optional(),
  /**
   * The W3C trace context each attempt's task carries (`TaskEnvelope.traceContext`), asked as its
   * task is started (a restart's included); a host that traces its runs sets it, and none is sent
   * without it.
   */
  attemptTraceContext: z.custom<AttemptTraceContext>((value) => typeof value === 'function', 'must be a function of the attempt').optional(),
  logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null).optional(),
  /**
   * Makes what the engine wrote durable before its effects leave it (ADR 0023): set when `database`
   * is a working copy of a state store (PostgreSQL). Absent, each SQLite transaction is the commit.
   */
  commit: z.custom<GroupCommit>((value) => typeof value === 'function', 'must be a function that resolves once what was written is durable').optional(),
  now: z.custom<() => number>((value) => typeof value === 'function').optional(),
});

export type EngineSettings = Omit<
  z.input<typeof engineSettingsSchema>,
  'database' | 'executors' | 'storage' | 'signer' | 'previousSigner' | 'anchors' | 'cipher'
> & {
  readonly anchors?: readonly AuditAnchorV1[];
  readonly cipher?: CipherV1;
  readonly database: string | EngineDatabase;
  readonly executors: Readonly<Record<string, ExecutorV1>>;
  readonly storage: StorageProviderV1;
  readonly signer: SignerV1;
  readonly previousSigner?: SignerV1;
};

/** The settings once checked, with their defaults filled in. */
export type ResolvedEngineSettings = z.output<typeof engineSettingsSchema>;
