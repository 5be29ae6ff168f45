// A full disk under the engine's database: the engine must keep running, pause dispatch, say why
// it is not ready, retry, and finish the work once space returns — with nothing lost (exits the
// executors pushed while the disk was full stay queued until written) and nothing done twice.
//
// The database lives on a real tmpfs of its own (mounted here: the tests run as root), filled to
// the last byte by a filler file while tasks are running, so their pushed exits meet a real
// `SQLITE_FULL` from a real write(2) returning ENOSPC.
import { mkdtempSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StorageProviderV1 } from '@cairn/core';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { CairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { createEngine } from './engine.ts';
import { ana, engineHarness } from './engine.test-support.ts';

const { engineWith, runs } = engineHarness();
const disk = useSmallFileSystem(4);

test(
  'a full disk under the database pauses the engine instead of killing it; readiness says why; once space returns the run completes, nothing lost or done twice',
  { timeout: 30_000 },
  async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const directory = mkdtempSync(join(disk.path, 'engine-'));
      // Reconciling once a minute: only pushed exits can finish these items in time, so an exit the
      // engine failed to write and then forgot would never be recorded.
      const { engine } = await engineWith({ path: join(directory, 'engine.db'), reconcileIntervalMs: 60_000 });
      engine.start();
      expect(engine.health()).toMatchObject({ ready: true });
      const sleepers = Array.from({ length: 4 }, (_, index) => ({ id: `sleeper-${index}`, runtime: { kind: 'command' as const, argv: ['sleep', '300'] } }));
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'full-disk',
          items: [...sleepers, { id: 'after', dependsOn: sleepers.map((item) => item.id), runtime: { kind: 'command', argv: ['true'] } }],
        },
        { actor: ana },
      );
      // Their starts recorded (not only their dispatches): an exit pushed before its start is
      // recorded is left to reconcile.
      const started = () => sleepers.filter((item) => engine.attempts(runId, item.id).some((attempt) => attempt.state === 'running')).length;
      for (let wait = 0; wait < 400 && started() < 4; wait++) await sleep(5);
      expect(started()).toBe(4);

      const filler = join(disk.path, 'filler');
      disk.fill(filler);
      // The tasks exit while the disk is full: their exits cannot be written.
      for (let wait = 0; wait < 400 && engine.health().ready; wait++) await sleep(5);
      const health = engine.health();
      expect(health).toMatchObject({ ready: false, reason: expect.stringMatching(/^storage full: /) });
      expect(Date.parse(health.since!)).not.toBeNaN();
      await sleep(300);
      // Still paused, still saying why; nothing was half-written: the items are still running.
      expect(engine.health()).toMatchObject({ ready: false, reason: expect.stringMatching(/^storage full: /) });
      expect(engine.items(runId).filter((item) => item.state === 'running')).toHaveLength(4);
      expect(engine.run(runId)!.state).toBe('running');

      unlinkSync(filler);
      const run = await Promise.race([engine.waitForRun(runId), sleep(15_000).then(() => undefined)]);
      expect(run?.state, 'the run did not end once space returned').toBe('succeeded');
      expect(engine.health()).toMatchObject({ ready: true });
      const entries = engine.audit.runEntries(runId);
      const succeeded = entries.filter((entry) => entry.action === 'item.succeeded').map((entry) => entry.entity.id);
      expect(succeeded.sort()).toEqual([`${runId}/after`, ...sleepers.map((item) => `${runId}/${item.id}`)].sort());
      expect(entries.filter((entry) => entry.action === 'attempt.completed')).toHaveLength(5);
      expect(entries.filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(5);
      expect(entries.filter((entry) => entry.action === 'attempt.lost')).toHaveLength(0);
      // Per-run sequence numbers without gaps: no rolled-back write left a hole.
      expect(entries.map((entry) => entry.runSeq)).toEqual(entries.map((_, index) => index));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  },
);

test('with the disk full before anything is dispatched, nothing starts until there is room; then every task runs once', { timeout: 30_000 }, async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const directory = mkdtempSync(join(disk.path, 'engine-'));
    const { engine } = await engineWith({ path: join(directory, 'engine.db') });
    const items = Array.from({ length: 3 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
    const { runId } = engine.submit({ version: 1, name: 'full-before-dispatch', items }, { actor: ana });
    const filler = join(disk.path, 'filler');
    disk.fill(filler);
    engine.start();
    for (let wait = 0; wait < 400 && engine.health().ready; wait++) await sleep(5);
    expect(engine.health()).toMatchObject({ ready: false, reason: expect.stringMatching(/^storage full: SQLITE_(FULL|IOERR)/) });
    await sleep(300);
    // Dispatch is paused: no task was started, no item left ready.
    expect([...runs.keys()].filter((executionId) => executionId.startsWith(`${runId}/`))).toEqual([]);
    expect(engine.items(runId).map((item) => item.state)).toEqual(['ready', 'ready', 'ready']);
    unlinkSync(filler);
    const run = await Promise.race([engine.waitForRun(runId), sleep(15_000).then(() => undefined)]);
    expect(run?.state, 'the run did not end once space returned').toBe('succeeded');
    expect(engine.health()).toMatchObject({ ready: true });
    expect(items.map((item) => runs.get(`${runId}/${item.id}/1`))).toEqual([1, 1, 1]);
    expect(engine.audit.runEntries(runId).filter((entry) => entry.action === 'item.succeeded')).toHaveLength(3);
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('exits pushed while the storage provider is down stay queued and are recorded once it is back, each once', { timeout: 30_000 }, async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const inner = createInMemoryStorageProvider();
  let down = false;
  // The storage refuses reads of result records while down, as an unreachable bucket would.
  const storage: StorageProviderV1 = {
    specificationVersion: 'v1',
    provider: inner.provider,
    capabilities: inner.capabilities,
    put: (key, body, options) => inner.put(key, body, options),
    get: async (key) => {
      if (down && key.startsWith('results/')) throw new CairnError('CAIRN_STORAGE_UNAVAILABLE', 'the storage is unreachable (test)');
      return inner.get(key);
    },
    head: (key) => inner.head(key),
    list: (options) => inner.list(options),
    delete: (key) => inner.delete(key),
  };
  const executor = createInMemoryExecutor({ run: async () => (await sleep(100), 0) });
  const engine = createEngine({
    database: join(mkdtempSync(join(disk.path, 'engine-')), 'engine.db'),
    executors: { local: executor },
    storage,
    signer: createInMemorySigner(),
    reconcileIntervalMs: 60_000,
    inboxPollMs: false,
  });
  try {
    engine.start();
    const items = Array.from({ length: 3 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
    const { runId } = engine.submit({ version: 1, name: 'storage-down', items }, { actor: ana });
    for (let wait = 0; wait < 400 && engine.items(runId).some((item) => item.state !== 'running'); wait++) await sleep(2);
    down = true;
    await sleep(400);
    // The exits came and could not be read: the items are still running, nothing was dropped.
    expect(engine.items(runId).map((item) => item.state)).toEqual(['running', 'running', 'running']);
    down = false;
    const run = await Promise.race([engine.waitForRun(runId), sleep(10_000).then(() => undefined)]);
    expect(run?.state, 'the run did not end once the storage was back').toBe('succeeded');
    const entries = engine.audit.runEntries(runId);
    expect(entries.filter((entry) => entry.action === 'attempt.completed')).toHaveLength(3);
    expect(entries.filter((entry) => entry.action === 'item.succeeded')).toHaveLength(3);
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await engine.close();
  }
});
