import type { AuditActor } from '@cairn/core';
import pg from 'pg';
import { isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { openEngineDatabase } from '../sqlite/open-engine-database.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { captureChanges, engineTables, type ChangeCapture } from '../change-capture.ts';
import { createPostgresStateStore, type PostgresStateStore } from './postgres-state-store.ts';
import type { PostgresWriter } from './postgres-writer.ts';
import { createTestDatabase, postgresConnection, type TestDatabase } from './postgres.test-support.ts';
import { WorkingCopy } from '../sqlite/working-copy.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const spec = (name: string, count = 3) => ({
  version: 1,
  name,
  items: Array.from({ length: count }, (_, index) => ({
    id: `i${index}`,
    runtime: { kind: 'command', argv: ['true'] },
    ...(index > 0 ? { dependsOn: [`i${index - 1}`] } : {}),
  })),
});

let database: TestDatabase | undefined;
const writers: PostgresWriter[] = [];
afterEach(async () => {
  for (const writer of writers.splice(0)) await writer.release();
  await database?.drop();
  database = undefined;
});

async function setUp(): Promise<{ store: PostgresStateStore; database: TestDatabase }> {
  database = await createTestDatabase();
  return { store: createPostgresStateStore(database.settings), database };
}

async function acquire(store: PostgresStateStore, instanceId: string, signal?: AbortSignal): Promise<PostgresWriter> {
  const writer = await store.acquireWriter({ instanceId, ...(signal === undefined ? {} : { signal }) });
  writers.push(writer);
  return writer;
}

/** A working copy with capture, a clock, the audit log and the state machine over it. */
function workingCopy(): { copy: EngineDatabase; capture: ChangeCapture; machine: RunStateMachine; audit: AuditLog } {
  const copy = openEngineDatabase(':memory:');
  const capture = captureChanges(copy);
  let clock = Date.UTC(2026, 10, 23, 12);
  const now = () => (clock += 1000);
  const audit = new AuditLog(new WorkingCopy(copy), { now });
  return { copy, capture, audit, machine: new RunStateMachine(new WorkingCopy(copy), audit, { now }) };
}

/** Every row of every engine table, in primary-key order: what "equal" means for two copies. */
function contents(copy: EngineDatabase): Record<string, unknown[]> {
  return Object.fromEntries(
    engineTables(copy).map((table) => [
      table.name,
      copy.prepare(`SELECT * FROM "${table.name}" ORDER BY ${table.primaryKey.map((column) => `"${column}"`).join(', ')}`).all(),
    ]),
  );
}

const settled = <T>(promise: Promise<T>) =>
  promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

describe('the PostgreSQL state store', () => {
  it('grants the writer lease to one replica at a time; the next one gets it when the first releases', async () => {
    const { store } = await setUp();
    const first = await acquire(store, 'replica-a');
    const second = acquire(createPostgresStateStore(database!.settings), 'replica-b');
    let secondHeld = false;
    void second.then(() => (secondHeld = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(secondHeld).toBe(false);
    const oracle = await database!.client();
    expect((await oracle.query('SELECT instance_id FROM cairn.engine_leader')).rows).toEqual([{ instance_id: 'replica-a' }]);
    expect(await store.leader(oracle)).toMatchObject({ held: true, instanceId: 'replica-a', pid: process.pid });
    await first.release();
    expect(await first.lost).toBeInstanceOf(Error);
    const next = await second;
    expect(next.instanceId).toBe('replica-b');
    expect((await oracle.query('SELECT instance_id FROM cairn.engine_leader')).rows).toEqual([{ instance_id: 'replica-b' }]);
  });

  it("records the holder's heartbeat, and clears the leader record on release", async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const oracle = await database!.client();
    const before = (await oracle.query(`SELECT heartbeat_at, backend_pid FROM cairn.engine_leader`)).rows[0];
    expect(Number(before.backend_pid)).toBe(writer.backendPid);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await writer.heartbeat();
    const after = (await oracle.query(`SELECT heartbeat_at FROM cairn.engine_leader`)).rows[0];
    expect(after.heartbeat_at.getTime()).toBeGreaterThan(before.heartbeat_at.getTime());
    await writer.release();
    expect((await oracle.query(`SELECT count(*)::int AS count FROM cairn.engine_leader`)).rows[0].count).toBe(0);
    expect(await store.leader(oracle)).toEqual({ held: false, instanceId: null, host: null, pid: null });
  });

  it('keeps waiting through a lost connection while another replica holds the lease', async () => {
    const { store } = await setUp();
    const holder = await acquire(store, 'holder');
    const waiting = acquire(createPostgresStateStore(database!.settings), 'waiter');
    const oracle = await database!.client();
    const waiterBackend = async () =>
      (
        await oracle.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'cairn-writer' AND pid <> $1`,
          [holder.backendPid],
        )
      ).rows[0]?.pid;
    await expect.poll(waiterBackend).toBeTypeOf('number');
    // The database refuses connections for a while (as while it restarts): the waiter's
    // reconnects fail, and it waits that out instead of giving up.
    const connection = postgresConnection();
    const admin = new pg.Client({
      host: connection.host,
      port: connection.port,
      user: connection.user,
      password: connection.password,
      database: connection.database,
    });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE ${database!.name} ALLOW_CONNECTIONS false`);
      await oracle.query('SELECT pg_terminate_backend($1)', [await waiterBackend()]);
      await new Promise((resolve) => setTimeout(resolve, 800));
      await admin.query(`ALTER DATABASE ${database!.name} ALLOW_CONNECTIONS true`);
    } finally {
      await admin.end();
    }
    await expect.poll(waiterBackend, { timeout: 5_000 }).toBeTypeOf('number');
    await holder.release();
    expect((await waiting).instanceId).toBe('waiter');
  });

  it('stops waiting for the lease when aborted', async () => {
    const { store } = await setUp();
    await acquire(store, 'holder');
    const controller = new AbortController();
    const waiting = settled(acquire(store, 'waiter', controller.signal));
    setTimeout(() => controller.abort(new Error('shutting down')), 300);
    expect(await waiting).toEqual({ error: new Error('shutting down') });
  });

  it('loses the lease with its session: killing the backend resolves lost, and another replica acquires within a second', async () => {
    const { store } = await setUp();
    const first = await acquire(store, 'replica-a');
    const second = acquire(createPostgresStateStore(database!.settings), 'replica-b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const oracle = await database!.client();
    await oracle.query('SELECT pg_terminate_backend($1)', [first.backendPid]);
    const reason = await first.lost;
    expect(isCairnError(reason, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect(reason.message).toMatch(/writer lease of instance replica-a is lost/);
    const killedAt = Date.now();
    const next = await second;
    expect(Date.now() - killedAt).toBeLessThan(1_000);
    expect(next.isLost).toBe(false);
  });

  it('refuses to commit after the lease is lost, and writes nothing', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const { copy, capture, machine } = workingCopy();
    await writer.load(copy, capture);
    machine.submit(spec('before'), { actor: ana });
    await writer.commit(capture.drain());
    machine.submit(spec('after'), { actor: ana });
    const batch = capture.drain();
    const oracle = await database!.client();
    await oracle.query('SELECT pg_terminate_backend($1)', [writer.backendPid]);
    await writer.lost;
    const refused = await settled(writer.commit(batch));
    expect(isCairnError((refused as { error: unknown }).error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((await oracle.query('SELECT name FROM cairn.runs')).rows).toEqual([{ name: 'before' }]);
    expect(Number((await oracle.query('SELECT max(seq) AS last FROM cairn.audit_entries')).rows[0].last)).toBe(1);
  });

  it('loads into a fresh working copy exactly what was committed, blobs and all, and the audit log continues from it', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const first = workingCopy();
    await writer.load(first.copy, first.capture);
    const { runId } = first.machine.submit(spec('chain', 4), { actor: ana });
    await writer.commit(first.capture.drain());
    first.machine.startItem(runId, 'i0');
    first.machine.finishItem(runId, 'i0', 'succeeded');
    first.copy.prepare(`INSERT INTO lock_holders (name, mode, run_id, item_id) VALUES ('db', 'exclusive', ?, 'i1')`).run(runId);
    first.copy.prepare(`DELETE FROM lock_holders`).run();
    first.machine.cancelRun(runId, ana, 'enough');
    const outcome = await writer.commit(first.capture.drain());
    expect(outcome.treeSize).toBe(first.audit.size);

    const second = workingCopy();
    const counts = await writer.load(second.copy, second.capture);
    expect(counts['items']).toBe(4);
    expect(contents(second.copy)).toEqual(contents(first.copy));
    expect(second.capture.drain().tables).toEqual([]);
    const reopened = new AuditLog(new WorkingCopy(second.copy));
    expect(reopened.size).toBe(first.audit.size);
    expect(Buffer.from(reopened.merkle.rootHash()).toString('hex')).toBe(Buffer.from(first.audit.merkle.rootHash()).toString('hex'));
  });

  it('refuses a batch whose audit entries do not continue the stored sequence (a gap or another writer), writing nothing', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const { copy, capture, machine } = workingCopy();
    await writer.load(copy, capture);
    machine.submit(spec('one'), { actor: ana });
    const lostBatch = capture.drain();
    machine.submit(spec('two'), { actor: ana });
    const error = await writer.commit(capture.drain()).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_STATE_CONFLICT')).toBe(true);
    expect((error as Error).message).toMatch(/start at seq 2, but the store's last is -1 \(the next must be 0\)/);
    const oracle = await database!.client();
    expect((await oracle.query('SELECT count(*)::int AS count FROM cairn.runs')).rows[0].count).toBe(0);
    // The writer is still usable: the batches in order commit.
    await writer.commit(lostBatch);
    expect((await oracle.query('SELECT count(*)::int AS count FROM cairn.audit_entries')).rows[0].count).toBe(2);
    // A batch whose entries have a hole inside is refused before anything is sent.
    const holed = { tables: [{ table: 'audit_entries', upserts: ['{}', '{}'], upsertKeys: ['{"seq":2}', '{"seq":4}'], deletes: [] }], capturedWrites: 2 };
    expect(isCairnError(await writer.commit(holed).catch((caught: unknown) => caught), 'CAIRN_STATE_CONFLICT')).toBe(true);
    // Audit entries are never deleted.
    const deleting = { tables: [{ table: 'audit_entries', upserts: [], upsertKeys: [], deletes: ['{"seq":1}'] }], capturedWrites: 1 };
    expect(isCairnError(await writer.commit(deleting).catch((caught: unknown) => caught), 'CAIRN_STATE_CONFLICT')).toBe(true);
    expect((await oracle.query('SELECT count(*)::int AS count FROM cairn.audit_entries')).rows[0].count).toBe(2);
  });

  it('commits a batch all or nothing: a row PostgreSQL refuses leaves the rest of the batch unwritten', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const secret = (name: string) => JSON.stringify({ name, version: 1, envelope: 'e', updated_at: 't', updated_by: 'ana' });
    const refused = await writer
      .commit({
        tables: [
          { table: 'secrets', upserts: [secret('fine')], upsertKeys: ['{"name":"fine"}'], deletes: [] },
          // No name: PostgreSQL refuses the row (the primary key is NOT NULL).
          { table: 'schedules', upserts: ['{"cron":"* * * * *"}'], upsertKeys: ['{"schedule_id":null}'], deletes: [] },
        ],
        capturedWrites: 2,
      })
      .catch((caught: unknown) => caught);
    expect(isCairnError(refused, 'CAIRN_INTERNAL')).toBe(true);
    expect((refused as Error).message).toMatch(/Nothing of the batch was written/);
    const oracle = await database!.client();
    expect((await oracle.query('SELECT count(*)::int AS count FROM cairn.secrets')).rows[0].count).toBe(0);
    // The connection is usable after the refusal.
    await writer.commit({ tables: [{ table: 'secrets', upserts: [secret('fine')], upsertKeys: ['{"name":"fine"}'], deletes: [] }], capturedWrites: 1 });
    expect((await oracle.query('SELECT count(*)::int AS count FROM cairn.secrets')).rows[0].count).toBe(1);
  });

  it("carries any text verbatim, the literal's own quoting included", async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const { copy, capture } = workingCopy();
    await writer.load(copy, capture);
    const nasty = `$cairn$'); DROP TABLE cairn.runs; --\\x00 \\u0000? "quoted" \n emoji 🪨 $$ $cairn_1$`;
    copy.prepare(`INSERT INTO secrets (name, version, envelope, updated_at, updated_by) VALUES (?, 1, ?, 't', 'ana')`).run(nasty, nasty);
    await writer.commit(capture.drain());
    const oracle = await database!.client();
    expect((await oracle.query('SELECT name, envelope FROM cairn.secrets')).rows).toEqual([{ name: nasty, envelope: nasty }]);
    const loaded = workingCopy();
    await writer.load(loaded.copy);
    expect(contents(loaded.copy)).toEqual(contents(copy));
  });

  it('stores a NUL character, which PostgreSQL text cannot hold, as U+FFFD instead of refusing the commit', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const { copy, capture } = workingCopy();
    await writer.load(copy, capture);
    const insert = copy.prepare(`INSERT INTO secrets (name, version, envelope, updated_at, updated_by) VALUES (?, 1, ?, 't', 'ana')`);
    insert.run('nul', 'before\u0000after');
    insert.run('escaped', 'a backslash then u0000: \\u0000');
    await writer.commit(capture.drain());
    const oracle = await database!.client();
    expect((await oracle.query('SELECT name, envelope FROM cairn.secrets ORDER BY name')).rows).toEqual([
      { name: 'escaped', envelope: 'a backslash then u0000: \\u0000' },
      { name: 'nul', envelope: 'before\ufffdafter' },
    ]);
  });

  it('tells listeners the new tree size at commit', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const listener = await database!.client();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(`${message.channel}:${message.payload}`));
    await listener.query('LISTEN cairn_audit');
    const { copy, capture, machine } = workingCopy();
    await writer.load(copy, capture);
    machine.submit(spec('one', 2), { actor: ana });
    await writer.commit(capture.drain());
    await expect.poll(() => heard).toEqual(['cairn_audit:2']);
  });

  it('loads in pages by key, items in run and spec order, so ready items keep their FIFO order', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const first = workingCopy();
    await writer.load(first.copy, first.capture);
    const independent = (name: string) => ({
      version: 1,
      name,
      items: ['zeta', 'alpha', 'mid', 'beta', 'omega', 'gamma', 'delta'].map((id) => ({ id, runtime: { kind: 'command', argv: ['true'] } })),
    });
    const runs = [first.machine.submit(independent('one'), { actor: ana }).runId, first.machine.submit(independent('two'), { actor: ana }).runId];
    first.copy.prepare(`UPDATE items SET ready_at = '2026-11-23T12:00:00.000Z'`).run();
    await writer.commit(first.capture.drain());
    const second = workingCopy();
    const counts = await writer.load(second.copy, second.capture, { pageSize: 3 });
    expect(counts['items']).toBe(14);
    expect(counts['audit_entries']).toBe(first.audit.size);
    expect(contents(second.copy)).toEqual(contents(first.copy));
    // Same ready time: the ready queue's order is insertion (rowid) order, as it was.
    const readyOrder = (copy: EngineDatabase) => copy.prepare(`SELECT run_id, item_id FROM items WHERE state = 'ready' ORDER BY ready_at, rowid`).all();
    expect(readyOrder(second.copy)).toEqual(readyOrder(first.copy));
    expect((readyOrder(second.copy) as { run_id: string }[]).map((row) => row.run_id)).toEqual([...Array(7).fill(runs[0]), ...Array(7).fill(runs[1])]);
    expect(second.capture.drain().tables).toEqual([]);
  });

  it('refuses to load into a working copy that is not empty', async () => {
    const { store } = await setUp();
    const writer = await acquire(store, 'replica-a');
    const { copy, machine } = workingCopy();
    machine.submit(spec('local'), { actor: ana });
    await expect(writer.load(copy)).rejects.toThrow(/must be empty before load/);
  });
});
