import type { ExecutionStatus, TaskEnvelope } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { isCairnError, resultKey, runnerPollAnswerSchema, sha256Digest, type RunnerPollRequest } from '@cairn/protocol';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createRunnerExecutor, type RunnerExecutor } from './runner-executor.ts';
import type { RunnerExecutorSettings } from './runner-executor-settings.ts';

const leaseMs = 1_000;
const start = Date.parse('2026-11-28T10:00:00.000Z');
let time = start;
const books: RunnerExecutor[] = [];

beforeEach(() => {
  time = start;
});

function book(settings: RunnerExecutorSettings = {}): RunnerExecutor {
  const created = createRunnerExecutor({ leaseMs, pollWaitMs: 500, now: () => time, ...settings });
  books.push(created);
  return created;
}

afterEach(() => {
  for (const created of books.splice(0)) created.close();
});

function task(executionId: string, labels?: string[]): TaskEnvelope {
  return { executionId, manifestDigest: sha256Digest(executionId), secrets: { TOKEN: 'secret' }, ...(labels === undefined ? {} : { labels }) };
}

/** A poll answered at once (waitMs 0), checked against the protocol's schema. */
async function poll(executor: RunnerExecutor, name: string, request: Partial<RunnerPollRequest> = {}) {
  const answer = await executor.poll({ name }, { version: '0.1.0', labels: [], slots: 4, held: [], waitMs: 0, ...request }, new AbortController().signal);
  return runnerPollAnswerSchema.parse(answer);
}

const ids = (answer: { leases: readonly { executionId: string }[] }) => answer.leases.map((lease) => lease.executionId);
const handle = (executionId: string) => ({ executor: 'runner', executionId, manifestDigest: sha256Digest(executionId) });
const succeeded = { state: 'exited', outcome: 'succeeded', exitCode: 0 } as const;
/** The end of this turn of the event loop: exits are told to `onExit` listeners then, together. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('leases', () => {
  test('an item goes only to a runner with every label it asks; an item without labels to any runner', async () => {
    const executor = book();
    await executor.start(task('gpu-item', ['gpu', 'linux']));
    await executor.start(task('any-item'));
    expect(ids(await poll(executor, 'plain', { labels: ['linux'], slots: 4 }))).toEqual(['any-item']);
    const gpu = await poll(executor, 'big', { labels: ['linux', 'gpu', 'arch=amd64'], slots: 4 });
    expect(gpu.leases).toEqual([
      {
        executionId: 'gpu-item',
        task: { executionId: 'gpu-item', manifestDigest: sha256Digest('gpu-item'), secrets: { TOKEN: 'secret' } },
        labels: ['gpu', 'linux'],
        leasedAt: '2026-11-28T10:00:00.000Z',
      },
    ]);
    expect(executor.holds('big', 'gpu-item')).toBe(true);
    expect(executor.holds('plain', 'gpu-item')).toBe(false);
    expect([executor.heldBy('big'), executor.heldBy('plain'), executor.heldBy('nobody')]).toEqual([['gpu-item'], ['any-item'], []]);
    expect(executor.manifestDigestOf('gpu-item')).toBe(sha256Digest('gpu-item'));
  });

  test('a poll takes at most its free slots, oldest first, and none with no slots', async () => {
    const executor = book();
    for (const id of ['a', 'b', 'c']) await executor.start(task(id));
    expect(ids(await poll(executor, 'r1', { slots: 0 }))).toEqual([]);
    expect(ids(await poll(executor, 'r1', { slots: 2 }))).toEqual(['a', 'b']);
    expect(ids(await poll(executor, 'r1', { slots: 2, held: ['a', 'b'] }))).toEqual(['c']);
    expect(await executor.inspect(handle('c'))).toEqual({ state: 'running' });
  });

  test('start is idempotent: the same handle, one lease', async () => {
    const executor = book();
    const [first, second] = await Promise.all([executor.start(task('a')), executor.start(task('a'))]);
    expect(second).toEqual(first);
    expect(first).toEqual(handle('a'));
    expect(ids(await poll(executor, 'r1'))).toEqual(['a']);
    expect(await executor.start(task('a'))).toEqual(first);
    expect(ids(await poll(executor, 'r2'))).toEqual([]);
  });

  test('two runners polling together never get the same lease', async () => {
    const executor = book();
    const waiting = Array.from({ length: 6 }, (_, index) =>
      executor.poll({ name: `r${index % 3}` }, { version: '0.1.0', labels: [], slots: 2, held: [], waitMs: 400 }, new AbortController().signal),
    );
    // Runner names repeat: a runner's newer poll answers its older one empty.
    for (let index = 0; index < 10; index++) await executor.start(task(`t${index}`));
    const answers = await Promise.all(waiting);
    const leased = answers.flatMap(ids);
    expect(new Set(leased).size).toBe(leased.length);
    const rest = [...ids(await poll(executor, 'r0', { slots: 10 })), ...ids(await poll(executor, 'r1', { slots: 10 }))];
    expect([...leased, ...rest].sort()).toEqual(Array.from({ length: 10 }, (_, index) => `t${index}`).sort());
  });

  test('start refuses labels that are not runner labels, naming where', async () => {
    const executor = book();
    await expect(executor.start(task('a', ['GPU']))).rejects.toSatisfy(
      (error: unknown) => isCairnError(error, 'CAIRN_EXECUTOR_START_FAILED') && /task\.labels\.0 must be a runner label/.test((error as Error).message),
    );
  });
});

describe('long polls', () => {
  test('a waiting poll is answered as soon as a task it fits is started', async () => {
    const executor = book({ pollWaitMs: 900 });
    const started = Date.now();
    const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: ['gpu'], slots: 1, held: [], waitMs: 900 }, new AbortController().signal);
    await executor.start(task('cpu', ['linux']));
    await executor.start(task('gpu', ['gpu']));
    expect(ids(await waiting)).toEqual(['gpu']);
    expect(Date.now() - started).toBeLessThan(500);
  });

  test("a dispatch pass's starts reach a waiting runner in one answer, not one a start", async () => {
    const executor = book({ pollWaitMs: 900 });
    const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 8, held: [], waitMs: 900 }, new AbortController().signal);
    // As the engine's pass starts its attempts: all at once.
    await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => executor.start(task(id))));
    expect(ids(await waiting)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);
  });

  test('a waiting poll answers empty when its signal aborts, and after its wait', async () => {
    const executor = book();
    const controller = new AbortController();
    const aborted = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 1, held: [], waitMs: 500 }, controller.signal);
    controller.abort();
    expect(await aborted).toEqual({ leases: [], cancel: [], leaseMs });
    const started = Date.now();
    expect(await executor.poll({ name: 'r2' }, { version: '0.1.0', labels: [], slots: 1, held: [], waitMs: 50 }, new AbortController().signal)).toEqual({
      leases: [],
      cancel: [],
      leaseMs,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    // Nothing was leased to the aborted poll: the task goes to the next one.
    await executor.start(task('a'));
    expect(ids(await poll(executor, 'r1'))).toEqual(['a']);
  });
});

describe('loss', () => {
  test('a lease not listed for leaseMs lapses: unknown, pushed, revoked, its late exit refused', async () => {
    const executor = book();
    const heard: [string, ExecutionStatus][] = [];
    executor.onExit((id, status) => void heard.push([id, status]));
    await executor.start(task('a'));
    await poll(executor, 'r1');
    time += leaseMs - 1;
    await poll(executor, 'r1', { held: ['a'] });
    time += leaseMs - 1;
    expect(await executor.inspect(handle('a'))).toEqual({ state: 'running' });
    time += 1;
    const lost = { state: 'unknown', reason: 'lease lapsed at 2026-11-28T10:00:01.999Z: runner r1 stopped listing it' };
    expect(await executor.inspect(handle('a'))).toEqual(lost);
    await turn();
    expect(heard).toEqual([['a', lost]]);
    expect(executor.holds('r1', 'a')).toBe(false);
    expect([executor.lapsed('r1', 'a'), executor.lapsed('r2', 'a'), executor.heldBy('r1')]).toEqual([true, false, []]);
    expect((await poll(executor, 'r1', { held: ['a'] })).cancel).toEqual(['a']);
    expect(executor.reportExits({ name: 'r1' }, [{ executionId: 'a', status: succeeded }])).toEqual({
      accepted: [],
      refused: [{ executionId: 'a', reason: 'lease lapsed at 2026-11-28T10:00:01.999Z' }],
    });
    expect(await executor.inspect(handle('a'))).toEqual(lost);
    await turn();
    expect(heard).toHaveLength(1);
  });

  test('a queued task does not lapse: it waits for a runner it fits', async () => {
    const executor = book();
    await executor.start(task('a', ['gpu']));
    time += 10 * leaseMs;
    expect(await executor.inspect(handle('a'))).toEqual({ state: 'running' });
    expect(ids(await poll(executor, 'r1', { labels: ['gpu'] }))).toEqual(['a']);
  });
});

describe('exits', () => {
  test('an exit of a held lease is accepted once and pushed once; others are refused', async () => {
    const executor = book();
    time += leaseMs; // past the adoption window of a new book: an unknown id is no runner's
    const heard: string[] = [];
    executor.onExit((id) => void heard.push(id));
    await executor.start(task('a'));
    await executor.start(task('b'));
    await poll(executor, 'r1', { slots: 1 });
    await poll(executor, 'r2', { slots: 1 });
    const exit = { executionId: 'a', status: { ...succeeded, resultKey: resultKey('a') } };
    expect(executor.reportExits({ name: 'r2' }, [exit])).toEqual({ accepted: [], refused: [{ executionId: 'a', reason: 'not held by this runner' }] });
    expect(executor.reportExits({ name: 'r1' }, [exit, { executionId: 'never', status: succeeded }])).toEqual({
      accepted: ['a'],
      refused: [{ executionId: 'never', reason: 'not held by this runner' }],
    });
    expect(executor.reportExits({ name: 'r1' }, [exit])).toEqual({ accepted: ['a'], refused: [] });
    await turn();
    expect(heard).toEqual(['a']);
    expect(await executor.inspect(handle('a'))).toEqual(exit.status);
    expect(executor.holds('r1', 'a')).toBe(false);
  });

  test('exits carried by a poll are taken before it waits, and its answer, when it comes, says which', async () => {
    const executor = book();
    time += leaseMs;
    const heard: string[] = [];
    executor.onExit((id) => void heard.push(id));
    await executor.start(task('a'));
    await poll(executor, 'r1', { slots: 1 });
    const exit = { executionId: 'a', status: { ...succeeded, resultKey: resultKey('a') } };
    const exits = [exit, { executionId: 'never', status: succeeded }];
    const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 1, held: [], waitMs: 400, exits }, new AbortController().signal);
    await turn();
    expect(heard).toEqual(['a']);
    expect(await executor.inspect(handle('a'))).toEqual(exit.status);
    // The next item the engine starts goes to the poll that reported the exit.
    await executor.start(task('b'));
    const answer = runnerPollAnswerSchema.parse(await waiting);
    expect(ids(answer)).toEqual(['b']);
    expect(answer.exits).toEqual({ accepted: ['a'], refused: [{ executionId: 'never', reason: 'not held by this runner' }] });
    // Reported again (its answer was lost), it is accepted again and pushed no more; a poll without free slots is answered at once.
    const again = await executor.poll(
      { name: 'r1' },
      { version: '0.1.0', labels: [], slots: 0, held: ['b'], waitMs: 400, exits: [exit] },
      new AbortController().signal,
    );
    expect(again.exits).toEqual({ accepted: ['a'], refused: [] });
    await turn();
    expect(heard).toEqual(['a']);
    expect((await poll(executor, 'r1', { held: ['b'] })).exits).toBeUndefined();
  });

  test('the result record the server stored for the holder is carried with its exit, once; nobody else’s (ADR 0060)', async () => {
    const executor = book();
    time += leaseMs;
    const heard: [string, ExecutionStatus][] = [];
    executor.onExit((id, status) => void heard.push([id, status]));
    await executor.start(task('a'));
    await executor.start(task('b'));
    await poll(executor, 'r1', { slots: 1 });
    await poll(executor, 'r2', { slots: 1 });
    const record = { executionId: 'a', outcome: 'succeeded', exitCode: 0 };
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    // Stored for another runner's lease, or naming another execution, or not JSON: not kept.
    executor.resultStored('r2', 'a', bytes(record));
    executor.resultStored('r2', 'b', bytes(record));
    executor.resultStored('r2', 'b', new TextEncoder().encode('{not json'));
    executor.resultStored('r1', 'a', bytes(record));
    const exitA = { executionId: 'a', status: { ...succeeded, resultKey: resultKey('a') } };
    const exitB = { executionId: 'b', status: { ...succeeded, resultKey: resultKey('b') } };
    executor.reportExits({ name: 'r1' }, [exitA]);
    executor.reportExits({ name: 'r2' }, [exitB]);
    await turn();
    expect(heard).toEqual([
      ['a', { ...exitA.status, result: record }],
      ['b', exitB.status],
    ]);
    // The book answers without it: the engine has it, and the stored one is where it was.
    expect(await executor.inspect(handle('a'))).toEqual(exitA.status);
  });

  test('the exits of every report in a turn are told together once it is over; a closing book tells them at once', async () => {
    const executor = book();
    time += leaseMs;
    const heard: string[][] = [];
    let told: string[] | undefined;
    // One batch per turn, as the engine records what it is told in one tick in one transaction.
    executor.onExit((id) => {
      if (told === undefined) {
        told = [];
        heard.push(told);
        queueMicrotask(() => (told = undefined));
      }
      told.push(id);
    });
    executor.onExit(() => {
      throw new Error('a listener that throws does not keep the others from hearing');
    });
    for (const id of ['a', 'b', 'c']) await executor.start(task(id));
    await poll(executor, 'r1', { slots: 1 });
    await poll(executor, 'r2', { slots: 2 });
    executor.reportExits({ name: 'r1' }, [{ executionId: 'a', status: succeeded }]);
    executor.reportExits({ name: 'r2' }, [{ executionId: 'b', status: succeeded }]);
    // Taken already: the book says so before the listeners hear it.
    expect([await executor.inspect(handle('a')), heard]).toEqual([succeeded, []]);
    await turn();
    expect(heard).toEqual([['a', 'b']]);
    executor.reportExits({ name: 'r2' }, [{ executionId: 'c', status: succeeded }]);
    executor.close();
    expect(heard).toEqual([['a', 'b'], ['c']]);
    await turn();
    expect(heard).toHaveLength(2);
  });

  test('a malformed exit report is refused by its JSON path', () => {
    const executor = book();
    expect(() => executor.reportExits({ name: 'r1' }, [{ executionId: 'a', status: { state: 'running' } as never }])).toThrow(/\$\.exits\[0\]\.status\.state/);
  });
});

describe('cancel', () => {
  test('cancel of a queued task ends it cancelled at once; no runner gets it', async () => {
    const executor = book();
    const heard: [string, ExecutionStatus][] = [];
    executor.onExit((id, status) => void heard.push([id, status]));
    await executor.start(task('a'));
    await executor.cancel(handle('a'));
    const cancelled = { state: 'exited', outcome: 'cancelled', reason: 'cancelled before a runner took it' };
    expect(await executor.inspect(handle('a'))).toEqual(cancelled);
    await turn();
    expect(heard).toEqual([['a', cancelled]]);
    expect(ids(await poll(executor, 'r1'))).toEqual([]);
  });

  test('cancel of a held task wakes its runner’s poll with the cancel, and ends when the runner reports the exit', async () => {
    const executor = book();
    await executor.start(task('a'));
    await poll(executor, 'r1');
    const waiting = executor.poll({ name: 'r1' }, { version: '0.1.0', labels: [], slots: 3, held: ['a'], waitMs: 400 }, new AbortController().signal);
    await executor.cancel(handle('a'));
    expect((await waiting).cancel).toEqual(['a']);
    expect(await executor.inspect(handle('a'))).toEqual({ state: 'running' });
    expect((await poll(executor, 'r1', { held: ['a'] })).cancel).toEqual(['a']);
    executor.reportExits({ name: 'r1' }, [{ executionId: 'a', status: { state: 'exited', outcome: 'cancelled', exitCode: 130 } }]);
    expect(await executor.inspect(handle('a'))).toEqual({ state: 'exited', outcome: 'cancelled', exitCode: 130 });
  });

  test('a cancelled held task whose lease lapses ends cancelled, not lost', async () => {
    const executor = book();
    await executor.start(task('a'));
    await poll(executor, 'r1');
    await executor.cancel(handle('a'));
    time += leaseMs;
    expect(await executor.inspect(handle('a'))).toMatchObject({ state: 'exited', outcome: 'cancelled' });
  });
});

describe('a new book (server restart)', () => {
  test('re-adopts the leases runners list within leaseMs, then cancels what it does not know', async () => {
    const first = book();
    await first.start(task('a'));
    await first.start(task('b'));
    await poll(first, 'r1', { slots: 2 });
    first.close();
    const second = book();
    expect(await second.inspect(handle('a')), 'a handle it may yet see listed').toEqual({ state: 'running' });
    time += leaseMs / 2;
    expect((await poll(second, 'r1', { held: ['a'] })).cancel).toEqual([]);
    expect(second.holds('r1', 'a')).toBe(true);
    time += leaseMs / 2;
    expect((await poll(second, 'r1', { held: ['a', 'b'] })).cancel, 'b was listed after the adoption window').toEqual(['b']);
    expect(await second.inspect(handle('b'))).toMatchObject({ state: 'unknown' });
    expect(second.reportExits({ name: 'r1' }, [{ executionId: 'a', status: succeeded }])).toEqual({ accepted: ['a'], refused: [] });
    expect(await second.inspect(handle('a'))).toEqual(succeeded);
    // The adopted lease learns its manifest from the handle the engine inspects.
    expect(second.manifestDigestOf('a')).toBe(sha256Digest('a'));
  });

  test('an exit reported within the adoption window is accepted; one after it is refused', async () => {
    const executor = book();
    expect(executor.reportExits({ name: 'r1' }, [{ executionId: 'a', status: succeeded }])).toEqual({ accepted: ['a'], refused: [] });
    time += leaseMs;
    expect(executor.reportExits({ name: 'r1' }, [{ executionId: 'b', status: succeeded }]).refused).toEqual([
      { executionId: 'b', reason: 'not held by this runner' },
    ]);
  });

  test('with storage: reads the result record of an attempt that ended before it, and never queues it again', async () => {
    const storage = createInMemoryStorageProvider();
    await storage.put(resultKey('a'), Buffer.from(JSON.stringify({ executionId: 'a', outcome: 'failed', exitCode: 3 })));
    const executor = book({ storage });
    const ended = { state: 'exited', outcome: 'failed', exitCode: 3, resultKey: resultKey('a') };
    expect(await executor.inspect(handle('a'))).toEqual(ended);
    expect(await executor.start(task('a'))).toEqual(handle('a'));
    const fresh = book({ storage });
    expect(await fresh.start(task('a'))).toEqual(handle('a'));
    expect(ids(await poll(fresh, 'r1'))).toEqual([]);
    expect(await fresh.inspect(handle('a'))).toEqual(ended);
  });

  test('with storage: a handle whose manifest does not name its execution is unknown at once', async () => {
    const executor = book({ storage: createInMemoryStorageProvider() });
    expect(await executor.inspect(handle('never-dispatched'))).toMatchObject({ state: 'unknown' });
  });
});

describe('runners and settings', () => {
  test('runners() lists each runner with its version, labels, free slots, held count and last poll', async () => {
    const executor = book();
    await executor.start(task('a'));
    await poll(executor, 'r2', { labels: ['linux', 'gpu'], slots: 3 });
    time += 5;
    await poll(executor, 'r1', { slots: 1 });
    expect(executor.runners()).toEqual([
      { name: 'r1', version: '0.1.0', labels: [], slots: 1, held: 0, lastSeen: '2026-11-28T10:00:00.005Z', state: 'connected', draining: false },
      { name: 'r2', version: '0.1.0', labels: ['gpu', 'linux'], slots: 2, held: 1, lastSeen: '2026-11-28T10:00:00.000Z', state: 'connected', draining: false },
    ]);
  });

  test('settings are checked at construction, naming the option', () => {
    expect(() => createRunnerExecutor({ leaseMs: 1_000, pollWaitMs: 1_000 })).toThrow(/"runner\.executor\.pollWaitMs" must be shorter than leaseMs/);
    expect(() => createRunnerExecutor({ leaseMs: 0 })).toThrow(/"runner\.executor\.leaseMs" must be positive/);
  });

  test('inspect and cancel refuse handles of another executor', async () => {
    const executor = book();
    for (const bad of [
      { executor: 'local', executionId: 'a' },
      { executor: 'runner', executionId: '' },
      { executor: 'runner', executionId: 'a', manifestDigest: 3 },
    ]) {
      await expect(executor.inspect(bad)).rejects.toSatisfy((error: unknown) => isCairnError(error, 'CAIRN_EXECUTOR_HANDLE_INVALID'));
      await expect(executor.cancel(bad)).rejects.toSatisfy((error: unknown) => isCairnError(error, 'CAIRN_EXECUTOR_HANDLE_INVALID'));
    }
  });
});
