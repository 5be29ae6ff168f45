import type { ResultRecord } from '@cairn/core';
import { CairnError, parsePayload, resultKey, runnerExitStatusSchema } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { attemptExitStatus } from './attempt-exit-status.ts';

const id = 'r-1/a/1';
const record = (outcome: ResultRecord['outcome'], exitCode: number | null) => ({ record: { outcome, exitCode } as ResultRecord });

test.each([
  ['a success', record('succeeded', 0), { state: 'exited', outcome: 'succeeded', exitCode: 0, resultKey: resultKey(id) }],
  ['a failure with its code', record('failed', 3), { state: 'exited', outcome: 'failed', exitCode: 3, resultKey: resultKey(id) }],
  ['a cancel without a code', record('cancelled', null), { state: 'exited', outcome: 'cancelled', resultKey: resultKey(id) }],
  ['a time-out', record('timed-out', 137), { state: 'exited', outcome: 'timed-out', exitCode: 137, resultKey: resultKey(id) }],
  [
    'a worker that threw a CairnError',
    { error: new CairnError('CAIRN_STORAGE_UNAVAILABLE', 'the server did not answer') },
    { state: 'exited', outcome: 'failed', reason: 'the worker wrote no result record: CAIRN_STORAGE_UNAVAILABLE: the server did not answer' },
  ],
  ['a worker that threw anything else', { error: 'boom' }, { state: 'exited', outcome: 'failed', reason: 'the worker wrote no result record: boom' }],
])('%s is reported as the protocol takes it', (_what, ended, status) => {
  const reported = attemptExitStatus(id, ended as Parameters<typeof attemptExitStatus>[1]);
  expect(reported).toEqual(status);
  expect(parsePayload(runnerExitStatusSchema, reported, 'exit')).toEqual(status);
});

test('a long reason is cut to 1024 characters', () => {
  expect(attemptExitStatus(id, { error: new Error('x'.repeat(5_000)) }).reason).toHaveLength(1_024);
});
