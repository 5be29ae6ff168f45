import type { ExecutorV1, SignerV1, StorageProviderV1 } from '@cairn/core';
import type { RunSpecContext } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { EngineObserver } from '../engine-observer.ts';
import type { AttemptGatewayIssuer } from './attempt-gateway.ts';
import type { AttemptTraceContext } from './attempt-trace-context.ts';
import type { GatewayRefusals } from './gateway-refusals.ts';
import type { PendingModelCalls } from './pending-model-calls.ts';
import type { SecretStore } from '../secrets/secret-store.ts';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';

export interface DispatcherSettings {
  readonly workingCopy: WorkingCopy;
  readonly audit: AuditLog;
  readonly machine: RunStateMachine;
  /** Executors by the name items use (`executor:` in the spec). */
  readonly executors: Readonly<Record<string, ExecutorV1>>;
  /** Where manifests are stored (by digest) and workers write results. */
  readonly storage: StorageProviderV1;
  /** Signs dispatch manifests. */
  readonly signer: SignerV1;
  /** Attempts live at once across all runs; default 16. */
  readonly concurrency?: number;
  /** Named queues and how many of their items may run at once (items name one with `queue:`). */
  readonly queues?: Readonly<Record<string, { readonly concurrency: number }>>;
  /** How long past an item's timeout its attempt's deadline is (the engine's `timeoutGraceMs`); default 0. */
  readonly timeoutGraceMs?: number;
  readonly now?: () => number;
  /** Source of retry jitter; `Math.random` by default (tests inject one). */
  readonly random?: () => number;
  /** Where the secrets items name are kept; without it, an item naming a secret fails. */
  readonly secrets?: SecretStore;
  /** Issues agent attempts the model gateway's URL and a credential (ADR 0033); none without it. */
  readonly gateway?: AttemptGatewayIssuer;
  /** The trace context each attempt's task carries (`TaskEnvelope.traceContext`); none without it. */
  readonly attemptTraceContext?: AttemptTraceContext;
  /** The model calls the gateway refused, by attempt: a failed attempt's failure says so first. */
  readonly refusals?: GatewayRefusals;
  /** Model calls whose entries wait for their bodies (ADR 0059): an attempt's reported end waits for its own. */
  readonly pendingModelCalls?: PendingModelCalls;
  /** Makes what was written durable before a task is started or stopped (ADR 0023). */
  readonly commit?: GroupCommit;
  /** What exists on this server, as submits are checked against it: a planner's fragment is checked so too. */
  readonly specContext?: () => RunSpecContext;
  /** Told when attempts start (dispatch latency), for metrics. */
  readonly observer?: EngineObserver;
}
