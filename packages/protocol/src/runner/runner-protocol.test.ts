import { describe, expect, test } from 'vitest';
import {
  isCairnError,
  parsePayload,
  runnerExitsAnswerSchema,
  runnerExitsRequestSchema,
  runnerPollAnswerSchema,
  runnerPollLimits,
  runnerPollRequestSchema,
  sha256Digest,
} from '../index.ts';

const digest = sha256Digest('manifest');
const poll = { version: '0.1.0', labels: ['linux', 'gpu', 'arch=arm64'], slots: 2, held: ['r1/a/1'], waitMs: 25_000 };
const lease = {
  executionId: 'r1/b/1',
  task: { executionId: 'r1/b/1', manifestDigest: digest, secrets: { TOKEN: 'x' } },
  labels: ['gpu'],
  leasedAt: '2026-11-28T10:00:00.000Z',
};

/** The JSON paths of every problem parsePayload reports, or [] when the value passes. */
function problems(schema: Parameters<typeof parsePayload>[0], value: unknown): string[] {
  try {
    parsePayload(schema, value, 'runner message');
    return [];
  } catch (error) {
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    return (error as { issues: { path: string }[] }).issues.map((issue) => issue.path);
  }
}

describe('runner poll', () => {
  test('a valid poll passes unchanged; waitMs may be left out', () => {
    expect(parsePayload(runnerPollRequestSchema, poll, 'poll')).toEqual(poll);
    const { waitMs: _left, ...withoutWait } = poll;
    expect(parsePayload(runnerPollRequestSchema, withoutWait, 'poll')).toEqual(withoutWait);
  });

  test.each([
    ['an upper-case label', { ...poll, labels: ['Linux'] }, ['$.labels[0]']],
    ['a label starting with a dot', { ...poll, labels: ['ok', '.hidden'] }, ['$.labels[1]']],
    ['a label of 64 characters', { ...poll, labels: ['a'.repeat(64)] }, ['$.labels[0]']],
    ['a label twice', { ...poll, labels: ['gpu', 'gpu'] }, ['$.labels']],
    ['negative slots', { ...poll, slots: -1 }, ['$.slots']],
    ['fractional slots', { ...poll, slots: 1.5 }, ['$.slots']],
    ['too many slots', { ...poll, slots: runnerPollLimits.slots + 1 }, ['$.slots']],
    ['an empty held id', { ...poll, held: ['r1/a/1', ''] }, ['$.held[1]']],
    ['a held id twice', { ...poll, held: ['r1/a/1', 'r1/a/1'] }, ['$.held']],
    ['a wait over 25 s', { ...poll, waitMs: 25_001 }, ['$.waitMs']],
    ['an unknown field', { ...poll, name: 'runner-1' }, ['$']],
    ['no version and no labels', { slots: 1, held: [] }, ['$.version', '$.labels']],
  ])('%s is refused at its path', (_what, value, paths) => {
    expect(problems(runnerPollRequestSchema, value)).toEqual(paths);
  });

  test('the error message names the first path and counts the rest', () => {
    expect(() => parsePayload(runnerPollRequestSchema, { ...poll, slots: -1, waitMs: -1 }, 'poll from runner-1')).toThrow(
      /^poll from runner-1 is not valid: \$\.slots must not be negative \(and 1 more\)\.$/,
    );
  });

  test('an answer carries leases with their task envelopes, cancels and the lease time', () => {
    const answer = { leases: [lease], cancel: ['r1/a/1'], leaseMs: 30_000 };
    expect(parsePayload(runnerPollAnswerSchema, answer, 'answer')).toEqual(answer);
    expect(problems(runnerPollAnswerSchema, { ...answer, leases: [{ ...lease, task: { ...lease.task, executionId: 'r1/c/1' } }] })).toEqual([
      '$.leases[0].task.executionId',
    ]);
    expect(problems(runnerPollAnswerSchema, { ...answer, leases: [{ ...lease, leasedAt: 'now' }] })).toEqual(['$.leases[0].leasedAt']);
    expect(problems(runnerPollAnswerSchema, { ...answer, leases: [{ ...lease, task: { ...lease.task, manifestDigest: 'sha256:x' } }] })).toEqual([
      '$.leases[0].task.manifestDigest',
    ]);
    expect(problems(runnerPollAnswerSchema, { ...answer, leaseMs: 0 })).toEqual(['$.leaseMs']);
  });
});

describe('runner exits', () => {
  const exit = { executionId: 'r1/a/1', status: { state: 'exited', outcome: 'failed', exitCode: 3, resultKey: 'results/r1/a/1.json' } };

  test('a valid report passes unchanged', () => {
    expect(parsePayload(runnerExitsRequestSchema, { exits: [exit] }, 'exits')).toEqual({ exits: [exit] });
  });

  test.each([
    ['a running status', { exits: [{ ...exit, status: { state: 'running' } }] }, ['$.exits[0].status.state', '$.exits[0].status.outcome']],
    ['an exit without outcome', { exits: [{ ...exit, status: { state: 'exited' } }] }, ['$.exits[0].status.outcome']],
    ['an unknown outcome', { exits: [{ ...exit, status: { state: 'exited', outcome: 'exploded' } }] }, ['$.exits[0].status.outcome']],
    ['a fractional exit code', { exits: [{ ...exit, status: { ...exit.status, exitCode: 1.5 } }] }, ['$.exits[0].status.exitCode']],
    ['the same execution twice', { exits: [exit, exit] }, ['$.exits']],
    ['no exits', { exits: [] }, ['$.exits']],
    // The server reads the record the runner stored: a runner's word never stands in for it.
    ['a carried result record', { exits: [{ ...exit, status: { ...exit.status, result: null } }] }, ['$.exits[0].status']],
  ])('%s is refused at its path', (_what, value, paths) => {
    expect(problems(runnerExitsRequestSchema, value)).toEqual(paths);
  });

  test('a poll may carry exits, checked as a report is; its answer says which were taken', () => {
    const carrying = { ...poll, held: [], exits: [exit] };
    expect(parsePayload(runnerPollRequestSchema, carrying, 'poll')).toEqual(carrying);
    expect(problems(runnerPollRequestSchema, { ...carrying, exits: [] })).toEqual(['$.exits']);
    expect(problems(runnerPollRequestSchema, { ...carrying, exits: [exit, exit] })).toEqual(['$.exits']);
    expect(problems(runnerPollRequestSchema, { ...carrying, exits: [{ ...exit, status: { ...exit.status, result: null } }] })).toEqual(['$.exits[0].status']);
    const answer = { leases: [], cancel: [], leaseMs: 30_000, exits: { accepted: ['r1/a/1'], refused: [] } };
    expect(parsePayload(runnerPollAnswerSchema, answer, 'answer')).toEqual(answer);
    expect(problems(runnerPollAnswerSchema, { ...answer, exits: { accepted: [] } })).toEqual(['$.exits.refused']);
  });

  test('the answer lists accepted ids and refusals with their reasons', () => {
    const answer = { accepted: ['r1/a/1'], refused: [{ executionId: 'r1/b/1', reason: 'not held by this runner' }] };
    expect(parsePayload(runnerExitsAnswerSchema, answer, 'answer')).toEqual(answer);
    expect(problems(runnerExitsAnswerSchema, { accepted: [], refused: [{ executionId: 'r1/b/1', reason: '' }] })).toEqual(['$.refused[0].reason']);
  });
});
