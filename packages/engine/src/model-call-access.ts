import type { AuditEntry, JsonObject } from '@cairn/core';
import type { LiveAttempt, ModelCall } from './dispatch/model-call-recorder.ts';

/**
 * What the model gateway (ADR 0033) asks of the engine, synchronously where order matters: whether
 * an attempt runs, and the `model.called` entry of a call, registered before the agent gets the
 * end of its answer. Only where the engine runs (SQLite, or the PostgreSQL replica holding the writer
 * lease); elsewhere each throws CAIRN_STATE_UNAVAILABLE saying where the gateway must be reached,
 * except `revealSecret`, which every replica answers alike.
 */
export interface ModelCallAccess {
  /** The attempt an execution id names while it runs; undefined once it ended or when there is none. */
  liveAttempt(executionId: string): LiveAttempt | undefined;
  /**
   * Appends the call's `model.called` entry (durable with the next group commit); throws
   * CAIRN_MODEL_NOT_ALLOWED when its attempt is not live. `stored`: the call's bodies being made
   * durable in storage; the entry is written only once they are (ADR 0059), its attempt's end
   * waiting for it, and the promise rejects (nothing written) when they cannot be, which breaks the
   * engine's commit, or when the attempt ended first without waiting. Without `stored`, at once.
   */
  recordModelCall(call: ModelCall, stored?: Promise<unknown>): Promise<AuditEntry>;
  /**
   * A server secret's value for the host's own use (a provider key, a forge's token, a trigger's
   * signing secret), on any replica: CAIRN_SECRET_UNAVAILABLE naming it (`path`) when it is not set
   * or does not decrypt, with `purpose` (who asks) as the message's subject when given;
   * CAIRN_CONFIG_INVALID when no cipher is configured.
   */
  revealSecret(name: string, purpose?: string): Promise<string>;
  /**
   * The run's spend reached its budget (`data` says what of which): a running run awaits a raise
   * (`awaiting-budget`), audited as `run.budget-exhausted`. True when it moved (false when it already waited).
   */
  awaitBudget(runId: string, data: JsonObject): boolean;
}
