import type { ResultRecord } from '@cairn/core';
import { isCairnError, resultKey, type RunnerExitStatus } from '@cairn/protocol';

/** The most of a reason a runner reports: the protocol takes any length, a log line should not. */
const reasonLimit = 1_024;

/**
 * How an attempt ended, as its runner reports it: the worker's result record (written to storage,
 * at `resultKey`), or, when the worker threw before it could write one, `failed` with why, as the
 * local executor records it.
 */
export function attemptExitStatus(executionId: string, ended: { readonly record: ResultRecord } | { readonly error: unknown }): RunnerExitStatus {
  if ('record' in ended) {
    const { outcome, exitCode } = ended.record;
    return { state: 'exited', outcome, ...(exitCode === null ? {} : { exitCode }), resultKey: resultKey(executionId) };
  }
  const { error } = ended;
  const why = isCairnError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
  const reason = `the worker wrote no result record: ${why}`;
  return { state: 'exited', outcome: 'failed', reason: reason.length > reasonLimit ? `${reason.slice(0, reasonLimit - 1)}…` : reason };
}
