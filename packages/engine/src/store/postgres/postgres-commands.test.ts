import type { AuditActor, JsonValue } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../audit/audit-log.ts';
import { openEngineDatabase } from '../sqlite/open-engine-database.ts';
import { RunStateMachine } from '../../state/run-state-machine.ts';
import { captureChanges } from '../change-capture.ts';
import { createPostgresCommandSender, type CommandResult } from './postgres-commands.ts';
import { createPostgresStateStore } from './postgres-state-store.ts';
import type { PostgresWriter } from './postgres-writer.ts';
import { createTestDatabase, cutOffCommandInsert, type TestDatabase } from './postgres.test-support.ts';
import { WorkingCopy } from '../sqlite/working-copy.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

let database: TestDatabase | undefined;
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await database?.drop();
  database = undefined;
});

async function setUp(senderSettings: { timeoutMs?: number; pollIntervalMs?: number } = {}) {
  database = await createTestDatabase();
  const sender = createPostgresCommandSender({ state: database.settings, ...senderSettings });
  closers.push(() => sender.close());
  return { database, sender };
}

async function writerOf(testDatabase: TestDatabase, instanceId = 'engine-a'): Promise<PostgresWriter> {
  const writer = await createPostgresStateStore(testDatabase.settings).acquireWriter({ instanceId });
  closers.push(() => writer.release());
  return writer;
}

/**
 * The engine side as the engine will run it: told of commands by NOTIFY, it takes them in id
 * order, carries each out on its working copy, and commits the state with the results.
 */
function serveSubmits(writer: PostgresWriter) {
  const copy = openEngineDatabase(':memory:');
  const capture = captureChanges(copy);
  const audit = new AuditLog(new WorkingCopy(copy));
  const machine = new RunStateMachine(new WorkingCopy(copy), audit);
  const seen: number[] = [];
  let turn = Promise.resolve();
  const work = async () => {
    for (const command of await writer.takeCommands(100)) {
      seen.push(command.id);
      let result: CommandResult;
      try {
        const payload = command.payload as { spec: unknown };
        const submitted = machine.submit(payload.spec, { actor: (command.actor as unknown as AuditActor) ?? ana });
        result = { id: command.id, ok: true, result: { runId: submitted.runId, created: submitted.created } };
      } catch (error) {
        result = { id: command.id, ok: false, error: error as CairnError };
      }
      await writer.commit(capture.drain(), [result]);
    }
  };
  const ready = writer.load(copy, capture).then(() => {
    writer.onCommandsPending(() => {
      turn = turn.then(work);
    });
    turn = turn.then(work);
  });
  return { ready, seen };
}

const oneItem = { version: 1, name: 'one', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] };

describe('commands from replicas', () => {
  it('round trip: the engine holding the lease carries a submit out and its result commits with the run it made', async () => {
    const { database, sender } = await setUp();
    const writer = await writerOf(database);
    const { ready } = serveSubmits(writer);
    await ready;
    const answer = (await sender.send('submit', { spec: oneItem } as unknown as JsonValue, { actor: ana as unknown as JsonValue })) as {
      runId: string;
      created: boolean;
    };
    expect(answer.created).toBe(true);
    const oracle = await database.client();
    const { rows } = await oracle.query(
      `SELECT c.state, c.kind, c.actor, r.name, r.submitted_by FROM cairn.engine_commands AS c JOIN cairn.runs AS r ON r.run_id = c.result->>'runId'`,
    );
    expect(rows).toEqual([{ state: 'done', kind: 'submit', actor: ana, name: 'one', submitted_by: 'ana' }]);
  });

  it('an error comes back as the same CairnError: code, message, path and issues', async () => {
    const { database, sender } = await setUp();
    const writer = await writerOf(database);
    await serveSubmits(writer).ready;
    const broken = { version: 1, name: 'broken', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, dependsOn: ['ghost'] }] };
    const error = await sender.send('submit', { spec: broken }).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);
    const cairn = error as CairnError;
    expect(cairn.message).toMatch(/1 problem/);
    expect(cairn.issues[0]).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: expect.stringContaining('dependsOn') });
    const oracle = await database.client();
    expect((await oracle.query(`SELECT state, error->>'code' AS code FROM cairn.engine_commands`)).rows).toEqual([
      { state: 'failed', code: 'CAIRN_RUN_SPEC_INVALID' },
    ]);
    expect((await oracle.query(`SELECT count(*)::int AS count FROM cairn.runs`)).rows[0].count).toBe(0);
  });

  it('the engine takes commands in id order', async () => {
    const { database, sender } = await setUp();
    const sent: Promise<JsonValue>[] = [];
    const oracle = await database.client();
    // One after another, so that their ids are in this order.
    for (const index of [1, 2, 3, 4, 5]) {
      sent.push(sender.send('submit', { spec: { ...oneItem, name: `run-${index}` } }, { timeoutMs: 10_000 }));
      await expect.poll(async () => (await oracle.query('SELECT count(*)::int AS count FROM cairn.engine_commands')).rows[0].count).toBe(index);
    }
    // Sent before any engine runs: they wait, pending, then are served in order.
    const writer = await writerOf(database);
    const { ready, seen } = serveSubmits(writer);
    await ready;
    const answers = (await Promise.all(sent)) as { runId: string }[];
    expect(new Set(answers.map((answer) => answer.runId)).size).toBe(5);
    expect(seen).toEqual([...seen].sort((left, right) => left - right));
    // Carried out in id order: each command's run.submitted entry comes after the previous one's.
    const { rows } = await oracle.query(
      `SELECT r.name, a.seq FROM cairn.engine_commands AS c
       JOIN cairn.runs AS r ON r.run_id = c.result->>'runId'
       JOIN cairn.audit_entries AS a ON a.run_id = r.run_id AND a.action = 'run.submitted'
       ORDER BY c.id`,
    );
    expect(rows.map((row) => row.name)).toEqual(['run-1', 'run-2', 'run-3', 'run-4', 'run-5']);
    const seqs = rows.map((row) => Number(row.seq));
    expect(seqs).toEqual([...seqs].sort((left, right) => left - right));
  });

  it('says no engine holds the lease when none answers, and withdraws the command so a later engine does not run it', async () => {
    const { database, sender } = await setUp({ timeoutMs: 600, pollIntervalMs: 100 });
    const error = await sender.send('cancel-run', { runId: 'r-1' }).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(/no engine holds the writer lease on schema "cairn".*withdrawn and will not run later/);
    const writer = await writerOf(database);
    expect(await writer.takeCommands(10)).toEqual([]);
  });

  it('names the lease holder when it does not answer in time, and leaves a command it took to finish', async () => {
    const { database, sender } = await setUp({ timeoutMs: 800, pollIntervalMs: 100 });
    const writer = await writerOf(database, 'slow-engine');
    const taking = new Promise<void>((resolve) => writer.onCommandsPending(() => void writer.takeCommands(10).then(() => resolve())));
    const error = await sender.send('approve', { runId: 'r-1', itemId: 'a' }, { timeoutMs: 700 }).catch((caught: unknown) => caught);
    await taking;
    expect(isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(
      /no answer within 0\.7 s from the engine holding the writer lease \(instance slow-engine on .*\)\. It was taken and may still complete/,
    );
    const oracle = await database.client();
    expect((await oracle.query(`SELECT state FROM cairn.engine_commands`)).rows).toEqual([{ state: 'taken' }]);
  });

  it('hands commands a lost writer had taken, but not answered, to the next writer', async () => {
    const { database, sender } = await setUp({ timeoutMs: 10_000 });
    const first = await writerOf(database, 'first');
    const takenByFirst = new Promise<number[]>((resolve) =>
      first.onCommandsPending(() => void first.takeCommands(10).then((taken) => resolve(taken.map((command) => command.id)))),
    );
    const answer = sender.send('submit', { spec: oneItem });
    const taken = await takenByFirst;
    expect(taken).toHaveLength(1);
    const oracle = await database.client();
    await oracle.query('SELECT pg_terminate_backend($1)', [first.backendPid]);
    await first.lost;
    const second = await writerOf(database, 'second');
    const { ready, seen } = serveSubmits(second);
    await ready;
    expect(((await answer) as { created: boolean }).created).toBe(true);
    expect(seen).toEqual(taken);
  });

  it('finds its answer by polling when no notification comes', async () => {
    const { database, sender } = await setUp({ timeoutMs: 10_000, pollIntervalMs: 100 });
    const answer = sender.send('set-secret', { name: 'token' });
    const oracle = await database.client();
    await expect.poll(async () => (await oracle.query('SELECT count(*)::int AS count FROM cairn.engine_commands')).rows[0].count).toBe(1);
    // Answered without NOTIFY (as if the notification were lost in a reconnect).
    await oracle.query(`UPDATE cairn.engine_commands SET state = 'done', result = '{"version": 2}', done_at = now()`);
    expect(await answer).toEqual({ version: 2 });
  });

  it('answers a command kind this engine does not know at once, instead of dropping it', async () => {
    const { database } = await setUp();
    const writer = await writerOf(database);
    const oracle = await database.client();
    await oracle.query(`INSERT INTO cairn.engine_commands (kind, payload) VALUES ('teleport', '{}'), ('approve', '{"runId": "r"}')`);
    const taken = await writer.takeCommands(10);
    expect(taken.map((command) => command.kind)).toEqual(['approve']);
    expect((await oracle.query(`SELECT kind, state, error->>'code' AS code FROM cairn.engine_commands ORDER BY id`)).rows).toEqual([
      { kind: 'teleport', state: 'failed', code: 'CAIRN_PAYLOAD_INVALID' },
      { kind: 'approve', state: 'taken', code: null },
    ]);
  });

  it('keeps an error that is not a CairnError as CAIRN_INTERNAL with its message', async () => {
    const { database, sender } = await setUp();
    const writer = await writerOf(database);
    writer.onCommandsPending(
      () =>
        void (async () => {
          for (const command of await writer.takeCommands(10))
            await writer.commit({ tables: [], capturedWrites: 0 }, [{ id: command.id, ok: false, error: new Error('disk on fire') as CairnError }]);
        })(),
    );
    const error = await sender.send('remove-schedule', { scheduleId: 'nightly' }).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_INTERNAL')).toBe(true);
    expect((error as Error).message).toContain('disk on fire');
  });

  it('waits on through a lost connection: it connects again and reads the answer the engine gave meanwhile', async () => {
    const { database, sender } = await setUp({ timeoutMs: 10_000, pollIntervalMs: 100 });
    const answer = sender.send('submit', { spec: oneItem });
    const oracle = await database.client();
    await expect.poll(async () => (await oracle.query('SELECT count(*)::int AS count FROM cairn.engine_commands')).rows[0].count).toBe(1);
    const ended = await oracle.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ('cairn-commands', 'cairn-listener')`,
    );
    expect(ended.rowCount).toBe(2);
    const writer = await writerOf(database);
    const { ready, seen } = serveSubmits(writer);
    await ready;
    expect(((await answer) as { created: boolean }).created).toBe(true);
    expect(seen).toHaveLength(1);
  });

  it('a command the database ends the connection under is CAIRN_STATE_UNAVAILABLE saying whether it was recorded', async () => {
    const { database, sender } = await setUp({ timeoutMs: 10_000 });
    // The first send makes the connection; the insert of the second is cut off.
    await sender.send('set-secret', { name: 'first' }, { timeoutMs: 1 }).catch(() => undefined);
    const { error } = (await cutOffCommandInsert(database, () => sender.send('set-secret', { name: 'second' }))) as { error: unknown };
    expect(isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((error as CairnError).path).toBe('engine.state');
    expect((error as Error).message).toMatch(
      /^A set-secret command could not be sent to the engine through PostgreSQL at .*: terminating connection due to administrator command\. The connection ended before the answer, so whether it was recorded is not known/,
    );
    const oracle = await database.client();
    expect((await oracle.query(`SELECT payload->>'name' AS name FROM cairn.engine_commands ORDER BY id`)).rows).toEqual([{ name: 'first' }]);
  });
});
