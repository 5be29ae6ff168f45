// The SQLite group commit (ADR 0031): a commit is one fsync of the WAL, shared by every call made
// while one is under way, so a fan-out pays a few fsyncs per dispatch pass, never one per item; a
// failed fsync breaks it for good and leaves the engine not ready.
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countFsyncs } from '@cairn/conformance/faults';
import { isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openEngineDatabase } from './open-engine-database.ts';
import { ana, engineHarness, eventually } from '../../engine.test-support.ts';
import { WalCommit } from './wal-commit.ts';

const child = fileURLToPath(new URL('./fsync-fanout-child.test-support.ts', import.meta.url));
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});
const temporaryDirectory = () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-wal-commit-'));
  directories.push(directory);
  return directory;
};

const { engineWith } = engineHarness();

describe('WalCommit', () => {
  it('makes a fan-out durable with a few fsyncs per dispatch pass, far fewer than one per item', () => {
    const items = 400;
    const { fsyncs: calls, stdout } = countFsyncs([process.execPath, '--conditions=@cairn/source', child, temporaryDirectory(), String(items)]);
    expect(stdout).toContain('done succeeded');
    // At concurrency 50 a pass dispatches up to 50 items; each pass's dispatch, starts and exits
    // are committed by a handful of fsyncs. One per item would be 400 or more.
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThanOrEqual(items / 4);
  }, 60_000);

  it('shares one fsync among the calls made while one is under way', async () => {
    const database = openEngineDatabase(join(temporaryDirectory(), 'engine.db'));
    database.exec('CREATE TABLE notes (text TEXT)');
    const walCommit = new WalCommit(database);
    try {
      const first = walCommit.commit();
      // Written while the first fsync is under way: the calls made now have something to sync.
      database.prepare('INSERT INTO notes (text) VALUES (?)').run('meanwhile');
      const calls = [first, ...Array.from({ length: 9 }, () => walCommit.commit())];
      await Promise.all(calls);
      // The first call began an fsync at once; the nine made while it was under way joined the next.
      expect(walCommit.syncs).toBe(2);
    } finally {
      await walCommit.close();
      database.close();
    }
  });

  it('makes no fsync for a commit with nothing written since the last fsync began', async () => {
    const database = openEngineDatabase(join(temporaryDirectory(), 'engine.db'));
    database.exec('CREATE TABLE notes (text TEXT)');
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    const walCommit = new WalCommit(database);
    try {
      insert.run('first');
      await walCommit.commit();
      expect(walCommit.syncs).toBe(1);
      await walCommit.commit();
      await walCommit.commit();
      expect(walCommit.syncs).toBe(1);
      insert.run('second');
      await walCommit.commit();
      expect(walCommit.syncs).toBe(2);
      // A write in a transaction still open when the fsync was called is not in the WAL yet: the
      // commit after the transaction ended syncs it, though nothing was counted since.
      database.exec('BEGIN');
      insert.run('third');
      await walCommit.commit();
      database.exec('COMMIT');
      await walCommit.commit();
      expect(walCommit.syncs).toBe(4);
      await walCommit.commit();
      expect(walCommit.syncs).toBe(4);
    } finally {
      await walCommit.close();
      database.close();
    }
  });

  it("makes no fsync while an idle engine's loop turns and its commits are awaited", async () => {
    const { engine } = await engineWith({ path: join(temporaryDirectory(), 'engine.db'), reconcileIntervalMs: 5 });
    engine.start();
    const { runId } = await engine
      .service()
      .submit({ version: 1, name: 'one', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana });
    expect((await engine.waitForRun(runId)).state).toBe('succeeded');
    await engine.committed();
    // Every WAL fsync goes through a FileHandle's `datasync`.
    const probe = await open(temporaryDirectory(), 'r');
    const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    const datasync = vi.spyOn(prototype, 'datasync');
    try {
      // The loop turns every 5 ms to reconcile; each turn commits, and so does each `committed`.
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let call = 0; call < 10; call++) await engine.committed();
      expect(datasync).not.toHaveBeenCalled();
    } finally {
      datasync.mockRestore();
    }
  });

  it('is broken for good by an fsync that failed: every later commit rejects, and the engine is not ready and answers no command', async () => {
    const directory = temporaryDirectory();
    const { engine } = await engineWith({ path: join(directory, 'engine.db') });
    // The WAL gone from under the open database: the commit cannot open it to sync it.
    rmSync(join(directory, 'engine.db-wal'));
    const refusal = await engine
      .service()
      .submit({ version: 1, name: 'lost', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }, { actor: ana })
      .then(
        () => expect.unreachable('the submit was answered'),
        (error: unknown) => error,
      );
    expect(isCairnError(refusal) && refusal.code).toBe('CAIRN_STATE_UNAVAILABLE');
    expect(String((refusal as Error).message)).toMatch(/could not be made durable.*engine\.db-wal.*restart the server/s);
    await eventually(() => !engine.health().ready);
    expect(engine.health()).toMatchObject({ ready: false, reason: expect.stringMatching(/^state not durable: /) });
    await expect(engine.committed()).rejects.toBe(refusal);
  });
});
