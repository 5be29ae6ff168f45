// Drain and resume (ADR 0050, step 2): an operator stops giving a runner new leases, its held ones
// run on, and its polls say so; and what the book tells `cairn runners` of each runner's state.
import type { TaskEnvelope } from '@cairn/core';
import { runnerPollAnswerSchema, sha256Digest, type RunnerPollRequest } from '@cairn/protocol';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { createRunnerExecutor, type RunnerExecutor } from './runner-executor.ts';

const leaseMs = 1_000;
const start = Date.parse('2026-11-28T10:00:00.000Z');
let time = start;
const books: RunnerExecutor[] = [];

beforeEach(() => {
  time = start;
});

afterEach(() => {
  for (const created of books.splice(0)) created.close();
});

function book(): RunnerExecutor {
  const created = createRunnerExecutor({ leaseMs, pollWaitMs: 500, now: () => time });
  books.push(created);
  return created;
}

function task(executionId: string): TaskEnvelope {
  return { executionId, manifestDigest: sha256Digest(executionId), secrets: {} };
}

/** A poll answered at once (waitMs 0), checked against the protocol's schema. */
async function poll(executor: RunnerExecutor, name: string, request: Partial<RunnerPollRequest> = {}) {
  const answer = await executor.poll({ name }, { version: '0.1.0', labels: [], slots: 4, held: [], waitMs: 0, ...request }, new AbortController().signal);
  return runnerPollAnswerSchema.parse(answer);
}

const ids = (answer: { leases: readonly { executionId: string }[] }) => answer.leases.map((lease) => lease.executionId);

test('a drained runner gets no new leases while its held one runs on and is reported; another runner takes the queue; resumed, it gets leases again', async () => {
  const executor = book();
  await executor.start(task('held'));
  expect(ids(await poll(executor, 'r1'))).toEqual(['held']);
  await executor.start(task('queued'));

  expect(executor.drain('r1')).toMatchObject({ name: 'r1', draining: true, held: 1, state: 'connected' });
  const drained = await poll(executor, 'r1', { held: ['held'] });
  expect(drained).toEqual({ leases: [], cancel: [], leaseMs, drain: true });
  // Its lease is still its own: heartbeated by its polls (for longer than a lease in all), its exit accepted.
  for (let polls = 0; polls < 2; polls++) {
    time += leaseMs - 1;
    expect((await poll(executor, 'r1', { held: ['held'], slots: 0 })).drain).toBe(true);
  }
  expect(executor.holds('r1', 'held')).toBe(true);
  expect(executor.reportExits({ name: 'r1' }, [{ executionId: 'held', status: { state: 'exited', outcome: 'succeeded', exitCode: 0 } }])).toEqual({
    accepted: ['held'],
    refused: [],
  });
  expect(ids(await poll(executor, 'r2'))).toEqual(['queued']);

  await executor.start(task('later'));
  expect(executor.undrain('r1')).toMatchObject({ name: 'r1', draining: false });
  const resumed = await poll(executor, 'r1');
  expect(ids(resumed)).toEqual(['later']);
  expect(resumed).not.toHaveProperty('drain');
});

test('drain and undrain of a runner the book never saw change nothing and say so; draining twice is draining once', async () => {
  const executor = book();
  expect(executor.drain('nobody')).toBeUndefined();
  expect(executor.undrain('nobody')).toBeUndefined();
  expect(executor.runners()).toEqual([]);
  await poll(executor, 'r1');
  executor.drain('r1');
  expect(executor.drain('r1')).toMatchObject({ draining: true });
  expect(executor.undrain('r1')).toMatchObject({ draining: false });
  expect(executor.undrain('r1')).toMatchObject({ draining: false });
});

test('a poll waiting when its runner is drained is answered at once with drain, and one waiting when it is resumed at once without', async () => {
  const executor = book();
  await poll(executor, 'r1');
  const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 2, held: [], waitMs: 500 }, new AbortController().signal);
  executor.drain('r1');
  expect(runnerPollAnswerSchema.parse(await waiting)).toEqual({ leases: [], cancel: [], leaseMs, drain: true });
  // Drained, a waiting poll is not answered by new work either.
  const drainedWait = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 0, held: [], waitMs: 500 }, new AbortController().signal);
  await executor.start(task('new'));
  executor.undrain('r1');
  expect(await drainedWait).toEqual({ leases: [], cancel: [], leaseMs });
  expect(ids(await poll(executor, 'r1'))).toEqual(['new']);
});

test('a runner is connected while it waits in a poll or polled within the lease, lost after; its summary says what it offered and holds', async () => {
  const executor = book();
  await executor.start(task('a'));
  await poll(executor, 'r1', { labels: ['linux', 'gpu'], slots: 3 });
  expect(executor.runners()).toEqual([
    { name: 'r1', version: '0.1.0', labels: ['gpu', 'linux'], slots: 2, held: 1, lastSeen: '2026-11-28T10:00:00.000Z', state: 'connected', draining: false },
  ]);
  time += leaseMs - 1;
  expect(executor.runners()[0]!.state).toBe('connected');
  time += 1;
  // Silent for the lease: lost, and so is its lease.
  expect(executor.runners()[0]).toMatchObject({ state: 'lost', held: 0 });
  // Back, and waiting in a poll longer than a lease (a clock that jumps): connected while it waits.
  const controller = new AbortController();
  const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 1, held: [], waitMs: 500 }, controller.signal);
  time += leaseMs * 3;
  expect(executor.runners()[0]!.state).toBe('connected');
  controller.abort();
  await waiting;
  expect(executor.runners()[0]!.state).toBe('lost');
});

test('the poll answer schema takes drain: true or nothing, never false', () => {
  expect(runnerPollAnswerSchema.safeParse({ leases: [], cancel: [], leaseMs: 1, drain: true }).success).toBe(true);
  expect(runnerPollAnswerSchema.safeParse({ leases: [], cancel: [], leaseMs: 1, drain: false }).success).toBe(false);
});
