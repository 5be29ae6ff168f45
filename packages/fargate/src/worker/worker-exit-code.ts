import type { ResultRecord } from '@cairn/core';

/**
 * The exit codes of `cairn-worker`, which ECS reports as the container's exit code. The result
 * record is the authority (the executor reads it); the code says the same to someone reading the
 * ECS console or `aws ecs describe-tasks`, and how it ended when no record could be written.
 */
export const workerExitCodes = {
  succeeded: 0,
  /** A failed attempt whose runtime gave no exit code of its own (a refused manifest, a refused patch). */
  failed: 1,
  timedOut: 124,
  /** 128 + SIGTERM: the task was stopped (StopTask) and the attempt recorded as cancelled. */
  cancelled: 143,
  /** No record: the sealed secrets could not be opened (EX_NOPERM). */
  secretsUnavailable: 77,
  /** No record: the task's environment is wrong (EX_CONFIG). */
  environmentInvalid: 78,
  /** No record: storage could not be reached or written (EX_TEMPFAIL). */
  noRecord: 75,
} as const;

/** The exit code for an attempt that wrote its record: the runtime's own on failure, so a failing command shows its code. */
export function workerExitCode(record: Pick<ResultRecord, 'outcome' | 'exitCode'>): number {
  switch (record.outcome) {
    case 'succeeded':
      return workerExitCodes.succeeded;
    case 'timed-out':
      return workerExitCodes.timedOut;
    case 'cancelled':
      return workerExitCodes.cancelled;
    case 'failed':
      return record.exitCode !== null && record.exitCode > 0 && record.exitCode < 256 ? record.exitCode : workerExitCodes.failed;
  }
}
