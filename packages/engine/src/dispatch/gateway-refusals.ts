import type { AttemptFailure } from '@cairn/core';

/** The calls of one attempt the model gateway refused: how many, and the first one's code, status and reason. */
export interface AttemptRefusals {
  readonly count: number;
  /** The refusal's CairnError code (`CAIRN_MODEL_NOT_ALLOWED`), when the gateway gave one. */
  readonly code: string | undefined;
  readonly status: number;
  readonly reason: string;
}

/** Attempts whose refusals are kept at once: an attempt that never ends through the recorder is dropped, oldest first. */
const attemptsKept = 10_000;

/** The longest refusal reason a failure message quotes. */
const reasonChars = 600;

/**
 * The model calls the gateway refused, by attempt, until the attempt ends: an agent CLI that is
 * refused often ends saying something else (its last stderr line), so the attempt's failure is
 * made to say first what the gateway said. Kept in memory, in the process that runs the engine
 * and its gateway: after a restart an attempt's failure says only what its runtime said.
 */
export class GatewayRefusals {
  readonly #byAttempt = new Map<string, AttemptRefusals>();

  /** Notes one refused call of the attempt. */
  refused(executionId: string, refusal: { readonly code: string | undefined; readonly status: number; readonly reason: string }): void {
    const known = this.#byAttempt.get(executionId);
    if (known !== undefined) return void this.#byAttempt.set(executionId, { ...known, count: known.count + 1 });
    if (this.#byAttempt.size >= attemptsKept) this.#byAttempt.delete(this.#byAttempt.keys().next().value!);
    this.#byAttempt.set(executionId, { count: 1, ...refusal });
  }

  /** The attempt's refusals, forgotten once taken (its end). */
  take(executionId: string): AttemptRefusals | undefined {
    const refusals = this.#byAttempt.get(executionId);
    this.#byAttempt.delete(executionId);
    return refusals;
  }
}

/** The runtime's own ways of failing that a refusal explains better: what it said comes after. */
const runtimeCodes: ReadonlySet<string> = new Set(['CAIRN_EXIT_NONZERO', 'CAIRN_RUNTIME_FAILED', 'CAIRN_ATTEMPT_TIMED_OUT']);

/**
 * An attempt's failure, saying first that the gateway refused its model calls when it did: the
 * refusal's code replaces a runtime's generic one (a non-zero exit), and what the runtime said
 * follows. Failures of other kinds (a budget, a cancel, a lost task) are kept as they are.
 */
export function failureWithRefusals(failure: AttemptFailure, refusals: AttemptRefusals | undefined): AttemptFailure {
  if (refusals === undefined || !runtimeCodes.has(failure.code)) return failure;
  const reason = refusals.reason.length > reasonChars ? `${refusals.reason.slice(0, reasonChars)}…` : refusals.reason;
  const calls = refusals.count === 1 ? 'a model call' : `${refusals.count} model calls`;
  const code = failure.code === 'CAIRN_ATTEMPT_TIMED_OUT' || refusals.code === undefined ? failure.code : refusals.code;
  return {
    ...failure,
    code,
    message: `The model gateway refused ${calls} of this attempt (${refusals.status}${refusals.code === undefined ? '' : ` ${refusals.code}`}): ${reason.replace(/\.$/, '')}. Then: ${failure.message}`,
  };
}
