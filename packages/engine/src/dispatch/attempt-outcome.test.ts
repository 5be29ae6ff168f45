import type { AttemptFailure, ExecutionStatus } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { attemptOutcome, type AttemptEnd, type AttemptOutcome } from './attempt-outcome.ts';
import type { ResultRead } from './read-result.ts';

const deadline = '2030-01-01T00:00:00.000Z';
const exited = (outcome: NonNullable<ExecutionStatus['outcome']>, fields: Partial<ExecutionStatus> = {}): ExecutionStatus => ({
  state: 'exited',
  outcome,
  ...fields,
});
const unknown: ExecutionStatus = { state: 'unknown', reason: 'host gone' };
const result = (exitCode: number | null, failure?: AttemptFailure): ResultRead => ({
  artifacts: { stdout: 'sha256:out' },
  exitCode,
  ...(failure ? { failure } : {}),
});
const reported = (code: string): AttemptFailure => ({ code, message: 'the worker says', exitCode: 137, signal: 'SIGKILL', stderrTail: 'killed' });
const end = (status: ExecutionStatus, read: ResultRead, stopReason: AttemptEnd['stopReason'] = null): AttemptEnd => ({ status, read, stopReason, deadline });
// What the engine says when it overrides the worker: its code, keeping what the worker observed.
const observed = (code: string, exitCode: number | null, signal: string | null = null, stderrTail = '') => ({
  code,
  message: expect.any(String) as string,
  exitCode,
  signal,
  stderrTail,
});

// Each row: what is known of the end, and the outcome, failure (its code, or what it is) and
// other fields the engine records for it.
const rows: [string, AttemptEnd, Partial<AttemptOutcome>][] = [
  [
    'an exit that succeeded with a result: succeeded, with its artifacts and exit code',
    end(exited('succeeded', { exitCode: 0 }), result(0)),
    { outcome: 'succeeded', failure: null, exitCode: 0, artifacts: { stdout: 'sha256:out' }, rejected: undefined, lostCause: undefined },
  ],
  [
    "a failure the worker reported: kept as the worker's account",
    end(exited('failed', { exitCode: 1 }), result(1, reported('CAIRN_EXIT_NONZERO'))),
    { outcome: 'failed', failure: reported('CAIRN_EXIT_NONZERO'), exitCode: 1 },
  ],
  [
    "a runtime killed by something the worker cannot see: the worker's account, with the executor's word on what it was",
    end(
      exited('failed', { reason: 'CAIRN_ATTEMPT_MEMORY_EXCEEDED: the pod was OOMKilled at its memory limit (192Mi)' }),
      result(null, reported('CAIRN_ATTEMPT_KILLED')),
    ),
    {
      outcome: 'failed',
      failure: {
        ...reported('CAIRN_ATTEMPT_KILLED'),
        message: 'the worker says The executor says: CAIRN_ATTEMPT_MEMORY_EXCEEDED: the pod was OOMKilled at its memory limit (192Mi).',
      },
    },
  ],
  [
    "another failure the worker reported with an executor's reason beside it: the worker's account alone",
    end(exited('failed', { exitCode: 1, reason: 'exit 1' }), result(1, reported('CAIRN_EXIT_NONZERO'))),
    { outcome: 'failed', failure: reported('CAIRN_EXIT_NONZERO'), exitCode: 1 },
  ],
  [
    "a non-zero exit without a result record: the executor's exit code",
    end(exited('failed', { exitCode: 2 }), undefined),
    { outcome: 'failed', failure: observed('CAIRN_EXIT_NONZERO', 2), exitCode: 2, artifacts: null },
  ],
  [
    "the result record's exit code before the executor's; the executor's when the record has none",
    end(exited('failed', { exitCode: 9 }), result(null)),
    { outcome: 'failed', failure: observed('CAIRN_EXIT_NONZERO', 9), exitCode: 9 },
  ],
  [
    'a failure with no exit code and no result record: the runtime failed without a result record',
    end(exited('failed'), undefined),
    {
      outcome: 'failed',
      failure: { ...observed('CAIRN_RUNTIME_FAILED', null), message: "The task failed without a result record. Read the executor's log for the attempt." },
    },
  ],
  [
    "a failure the executor explains: its reason in the failure's message",
    end(exited('failed', { reason: 'image not found' }), undefined),
    {
      outcome: 'failed',
      failure: { ...observed('CAIRN_RUNTIME_FAILED', null), message: "The task failed: image not found. Read the executor's log for the attempt." },
    },
  ],
  [
    'an exit with no outcome at all: failed',
    end({ state: 'exited' }, result(0)),
    { outcome: 'failed', failure: { ...observed('CAIRN_RUNTIME_FAILED', 0), message: expect.stringContaining('without saying why') as string } },
  ],
  [
    'a success whose result is rejected: failed, the result not trusted, the rejection said',
    end(exited('succeeded', { exitCode: 0 }), { rejected: 'the result names another fencing token or manifest' }),
    {
      outcome: 'failed',
      failure: { ...observed('CAIRN_PAYLOAD_INVALID', 0), message: expect.stringContaining('another fencing token') as string },
      artifacts: null,
      rejected: 'the result names another fencing token or manifest',
    },
  ],
  [
    'a task the executor no longer knows, not asked to stop: lost, with its cause',
    end(unknown, undefined),
    {
      outcome: 'lost',
      failure: { ...observed('CAIRN_ATTEMPT_LOST', null), message: expect.stringContaining('is gone): host gone') as string },
      lostCause: 'the executor no longer knows the task (its host, or the process that ran it, is gone): host gone',
    },
  ],
  [
    'a task gone after the engine stopped it for its deadline: timed out, not lost',
    end(unknown, undefined, 'timeout'),
    {
      outcome: 'timed-out',
      failure: { ...observed('CAIRN_ATTEMPT_TIMED_OUT', null), message: expect.stringContaining(deadline) as string },
      lostCause: undefined,
    },
  ],
  [
    'a task gone after the engine stopped it for a cancel: cancelled, not lost',
    end(unknown, undefined, 'cancel'),
    { outcome: 'cancelled', failure: observed('CAIRN_ATTEMPT_CANCELLED', null) },
  ],
  [
    'a task stopped for its deadline that reports another failure: timed out, keeping what the worker observed',
    end(exited('failed', { exitCode: 137 }), result(137, reported('CAIRN_EXIT_NONZERO')), 'timeout'),
    { outcome: 'timed-out', failure: observed('CAIRN_ATTEMPT_TIMED_OUT', 137, 'SIGKILL', 'killed') },
  ],
  [
    "a task stopped for a cancel whose worker says it was cancelled: the worker's account",
    end(exited('cancelled'), result(137, reported('CAIRN_ATTEMPT_CANCELLED')), 'cancel'),
    { outcome: 'cancelled', failure: reported('CAIRN_ATTEMPT_CANCELLED') },
  ],
  [
    'a task asked to stop that succeeded anyway: succeeded',
    end(exited('succeeded', { exitCode: 0 }), result(0), 'timeout'),
    { outcome: 'succeeded', failure: null },
  ],
  [
    'a task that timed out by itself (the executor killed it): timed out',
    end(exited('timed-out'), undefined),
    { outcome: 'timed-out', failure: observed('CAIRN_ATTEMPT_TIMED_OUT', null) },
  ],
  [
    'a worker that says it timed out when the engine stopped nothing: the engine says what it saw',
    end(exited('failed', { exitCode: 137 }), result(137, reported('CAIRN_ATTEMPT_TIMED_OUT'))),
    { outcome: 'failed', failure: observed('CAIRN_EXIT_NONZERO', 137, 'SIGKILL', 'killed') },
  ],
  [
    'a rejected result of a task stopped for a cancel: cancelled, the failure the rejection',
    end(exited('failed'), { rejected: 'the result record is not valid: bad' }, 'cancel'),
    { outcome: 'cancelled', failure: observed('CAIRN_PAYLOAD_INVALID', null), rejected: 'the result record is not valid: bad' },
  ],
];

describe('attemptOutcome: how an attempt ended', () => {
  it.each(rows)('%s', (_name, known, expected) => {
    expect(attemptOutcome(known)).toMatchObject(expected);
  });

  it('is a function of what is known: the same end gives the same outcome, and the end is not changed', () => {
    const known = end(exited('failed', { exitCode: 1 }), result(1, reported('CAIRN_EXIT_NONZERO')), 'cancel');
    const copy = structuredClone(known);
    expect(attemptOutcome(known)).toEqual(attemptOutcome(known));
    expect(known).toEqual(copy);
  });
});
