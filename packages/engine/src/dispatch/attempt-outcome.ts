import type { AttemptFailure, ExecutionStatus } from '@cairn/core';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';
import { engineFailure } from './engine-failure.ts';
import type { ResultRead } from './read-result.ts';

/** What is known of an attempt once its task ended or its executor lost it. */
export interface AttemptEnd {
  /** How the executor last saw the task: `exited`, or `unknown` (it no longer knows it). */
  readonly status: ExecutionStatus;
  /** What its worker reported. */
  readonly read: ResultRead;
  /** Why the engine had asked the task to stop, if it had. */
  readonly stopReason: AttemptRecord['stopReason'];
  /** Its deadline, which a timed-out attempt's failure names. */
  readonly deadline: string | null;
}

/** How an attempt ended, as the engine records it: what it produced and, short of success, why. */
export type AttemptOutcome = AttemptResultFields &
  (
    | { readonly outcome: 'succeeded'; readonly failure: null }
    | { readonly outcome: 'failed' | 'timed-out' | 'cancelled' | 'lost'; readonly failure: AttemptFailure }
  );

interface AttemptResultFields {
  readonly exitCode: number | null;
  /** What its result record stored; null without a trusted one. */
  readonly artifacts: Record<string, string> | null;
  /** Why its result record was rejected, when it was (audited as `attempt.result-rejected`). */
  readonly rejected: string | undefined;
  /** Why a lost attempt is lost, for its `attempt.lost` entry. */
  readonly lostCause: string | undefined;
}

/**
 * How an attempt ended, from what is known of its end: a pure function, so each way an attempt
 * can end is a row of its table test rather than a path through the code that records it.
 */
export function attemptOutcome({ status, read, stopReason, deadline }: AttemptEnd): AttemptOutcome {
  const rejected = read !== undefined && 'rejected' in read ? read.rejected : undefined;
  const result = read !== undefined && 'rejected' in read ? undefined : read;
  // Gone without an exit: lost — unless the engine had asked it to stop (a cancel, a deadline),
  // when gone is what was asked for, and re-running it would undo the cancel.
  const lost = status.state === 'unknown' && stopReason === null;
  // A stopped task may report anything short of success; what it really was is why the engine
  // stopped it.
  const stopped = stopReason === null || status.outcome === 'succeeded' ? status.outcome : stopReason === 'timeout' ? 'timed-out' : 'cancelled';
  const artifacts = result?.artifacts ?? null;
  const exitCode = result?.exitCode ?? status.exitCode ?? null;
  if (!lost && rejected === undefined && stopped === 'succeeded')
    return { outcome: 'succeeded', failure: null, exitCode, artifacts, rejected, lostCause: undefined };
  // A task whose result cannot be trusted did not succeed, whatever its exit code.
  const outcome = lost ? 'lost' : stopped === 'succeeded' || stopped === undefined ? 'failed' : stopped;
  const lostCause = lost
    ? `the executor no longer knows the task (its host, or the process that ran it, is gone)${status.reason ? `: ${status.reason}` : ''}`
    : undefined;
  return { outcome, failure: attemptFailureOf(deadline, status, read, outcome, exitCode, lostCause), exitCode, artifacts, rejected, lostCause };
}

/** The code a worker's failure has when it agrees with how the engine saw the attempt end. */
const stoppedCodes: Readonly<Record<string, string>> = { 'timed-out': 'CAIRN_ATTEMPT_TIMED_OUT', cancelled: 'CAIRN_ATTEMPT_CANCELLED' };

/**
 * Why an ended attempt did not succeed. The worker's own account is kept when it agrees with the
 * outcome the engine records; otherwise (a lost task, a rejected result, a task the engine stopped
 * for its deadline or a cancel, a task that wrote no result) the engine says what it saw, keeping
 * the exit code and stderr the worker reported.
 */
function attemptFailureOf(
  deadline: string | null,
  status: ExecutionStatus,
  read: ResultRead,
  outcome: string,
  exitCode: number | null,
  lostCause: string | undefined,
): AttemptFailure {
  if (outcome === 'lost')
    return engineFailure('CAIRN_ATTEMPT_LOST', `The attempt was lost: ${lostCause ?? 'the executor no longer knows the task'}. It ended without a result.`);
  if (read !== undefined && 'rejected' in read) {
    return {
      ...engineFailure(
        'CAIRN_PAYLOAD_INVALID',
        `The worker's result was rejected: ${read.rejected}. Nothing it reported is trusted; check that the worker and the engine run compatible Cairn versions.`,
      ),
      exitCode,
    };
  }
  const reported = read?.failure;
  const expected = stoppedCodes[outcome];
  if (reported && (expected === undefined ? !Object.values(stoppedCodes).includes(reported.code) : reported.code === expected)) {
    // A runtime killed by something the worker cannot see (the kernel's OOM killer in a pod's cgroup,
    // an eviction): the executor may know what it was, and its word is kept beside the worker's.
    if (reported.code === 'CAIRN_ATTEMPT_KILLED' && status.reason) return { ...reported, message: `${reported.message} The executor says: ${status.reason}.` };
    return reported;
  }
  const observed = { exitCode, signal: reported?.signal ?? null, stderrTail: reported?.stderrTail ?? '' };
  if (outcome === 'timed-out') {
    return {
      code: 'CAIRN_ATTEMPT_TIMED_OUT',
      message: `The attempt had no result by its deadline ${deadline ?? ''} (the item's timeout) and was stopped. Raise the item's timeout or make the work faster.`,
      ...observed,
    };
  }
  if (outcome === 'cancelled')
    return { code: 'CAIRN_ATTEMPT_CANCELLED', message: 'The attempt was stopped because its run or item was cancelled.', ...observed };
  if (exitCode !== null && exitCode !== 0) return { code: 'CAIRN_EXIT_NONZERO', message: `The runtime exited with code ${exitCode}.`, ...observed };
  const what = status.reason ? `The task failed: ${status.reason}` : `The task failed without ${read === undefined ? 'a result record' : 'saying why'}`;
  return { code: 'CAIRN_RUNTIME_FAILED', message: `${what}. Read the executor's log for the attempt.`, ...observed };
}
