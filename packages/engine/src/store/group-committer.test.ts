// The pipelined group commit (ADR 0023) on a real PostgreSQL writer: one commit in flight at a
// time, every call made during a flight joins the one next commit, and a call resolves with the
// first commit that carries what was written before it.
import type { AuditActor } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/audit-log.ts';
import { openEngineDatabase } from './sqlite/open-engine-database.ts';
import { RunStateMachine } from '../state/run-state-machine.ts';
import { captureChanges } from './change-capture.ts';
import { GroupCommitter } from './group-committer.ts';
import { createPostgresStateStore } from './postgres/postgres-state-store.ts';
import type { PostgresWriter } from './postgres/postgres-writer.ts';
import { createTestDatabase, type TestDatabase } from './postgres/postgres.test-support.ts';
import { WorkingCopy } from './sqlite/working-copy.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const spec = (name: string) => ({ version: 1, name, items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] });

let database: TestDatabase | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await database?.drop();
  database = undefined;
});

/**
 * A working copy and a committer on a real writer, whose commits the test holds at the door (each
 * goes to PostgreSQL once the test lets it) and counts: calls, and how many were in flight at once.
 */
async function setUp() {
  database = await createTestDatabase();
  const store = createPostgresStateStore(database.settings);
  const writer: PostgresWriter = await store.acquireWriter({ instanceId: 'committer-test' });
  cleanups.push(() => writer.release());
  const copy = openEngineDatabase(':memory:');
  await writer.load(copy);
  const capture = captureChanges(copy);
  let clock = Date.UTC(2026, 10, 23, 12);
  const now = () => (clock += 1000);
  const machine = new RunStateMachine(new WorkingCopy(copy), new AuditLog(new WorkingCopy(copy), { now }), { now });
  const oracle: pg.Client = await database.client();
  cleanups.push(() => oracle.end());
  const held: { let: () => void; runs: string[] }[] = [];
  let inFlight = 0;
  const counts = { commits: 0, mostInFlight: 0 };
  const commit = writer.commit.bind(writer);
  writer.commit = async (batch, answers) => {
    counts.commits++;
    counts.mostInFlight = Math.max(counts.mostInFlight, ++inFlight);
    try {
      const runs = batch.tables.find((changes) => changes.table === 'runs')?.upsertKeys.map((key) => (JSON.parse(key) as { run_id: string }).run_id) ?? [];
      await new Promise<void>((resolve) => held.push({ let: resolve, runs }));
      return await commit(batch, answers);
    } finally {
      inFlight--;
    }
  };
  const committer = new GroupCommitter(capture, writer);
  const submit = (name: string) => machine.submit(spec(name), { actor: ana }).runId;
  const stored = async () => (await oracle.query<{ run_id: string }>('SELECT run_id FROM cairn.runs')).rows.map((row) => row.run_id).sort();
  const nextHeld = async () => {
    const deadline = Date.now() + 5_000;
    while (held.length === 0) {
      if (Date.now() > deadline) throw new Error('no commit reached the writer within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return held.shift()!;
  };
  return { committer, writer, submit, stored, nextHeld, counts };
}

/** Whether `promise` has settled by the time the event loop has turned a few times. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  return done;
}

describe('GroupCommitter (pipelined group commit)', () => {
  it('keeps one commit in flight, joins every call made meanwhile to the next, which carries what was written before them', async () => {
    const { committer, submit, stored, nextHeld, counts } = await setUp();
    const first = submit('first');
    const firstCommit = committer.commit();
    const flightOne = await nextHeld();
    expect(flightOne.runs).toEqual([first]);
    // Written and committed while the first commit is in flight: both calls join the next commit.
    const second = submit('second');
    const secondCommit = committer.commit();
    const third = submit('third');
    const thirdCommit = committer.commit();
    expect(await settled(secondCommit)).toBe(false);
    expect(counts.commits).toBe(1);
    flightOne.let();
    await firstCommit;
    expect(await stored()).toEqual([first]);
    // The next commit began the moment the first landed, carrying both.
    const flightTwo = await nextHeld();
    expect(flightTwo.runs.sort()).toEqual([second, third].sort());
    // Written while the second is in flight: it waits for a third commit, the second's callers do not.
    const fourth = submit('fourth');
    const fourthCommit = committer.commit();
    flightTwo.let();
    await Promise.all([secondCommit, thirdCommit]);
    expect(await stored()).toEqual([first, second, third].sort());
    expect(await settled(fourthCommit)).toBe(false);
    const flightThree = await nextHeld();
    expect(flightThree.runs).toEqual([fourth]);
    flightThree.let();
    await fourthCommit;
    expect(await stored()).toEqual([first, second, third, fourth].sort());
    expect(counts).toEqual({ commits: 3, mostInFlight: 1 });
  });

  it('fails every call joined to a failed commit and every later one, and sends nothing after it', async () => {
    const { committer, writer, submit, stored, nextHeld, counts } = await setUp();
    submit('lost');
    const firstCommit = committer.commit();
    const flightOne = await nextHeld();
    submit('after');
    const joined = committer.commit();
    // The lease is lost while the first commit is in flight.
    await writer.release();
    flightOne.let();
    await expect(firstCommit).rejects.toSatisfy((error) => isCairnError(error, 'CAIRN_STATE_UNAVAILABLE'));
    await expect(joined).rejects.toSatisfy((error) => isCairnError(error, 'CAIRN_STATE_UNAVAILABLE'));
    await expect(committer.commit()).rejects.toSatisfy((error) => isCairnError(error, 'CAIRN_STATE_UNAVAILABLE'));
    expect(isCairnError(await committer.failed, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect(counts.commits).toBe(1);
    expect(await stored()).toEqual([]);
  });
});
