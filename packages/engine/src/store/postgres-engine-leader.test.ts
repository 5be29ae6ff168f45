// PostgreSQL mode end to end in one process (ADR 0023): replicas bid for the writer lease, one runs
// the engine on its working copy, commands reach it through engine_commands, readers see only what
// is committed, and when the leader's session is killed another takes over, re-attaches to the
// running tasks, and finishes the run with no item lost or completed twice.
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditActor, JsonValue } from '@cairn/core';
import { verifyBundle } from '@cairn/audit';
import {
  createInMemoryCipher,
  createInMemoryExecutor,
  createInMemorySigner,
  createInMemoryStorageProvider,
  type InMemoryExecutorRegistry,
} from '@cairn/conformance/mocks';
import { isCairnError } from '@cairn/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine } from '../engine.ts';
import { createPostgresCommandSender } from './postgres/postgres-commands.ts';
import { openPostgresEngineReads } from './postgres/postgres-engine-reads.ts';
import { createPostgresEngineLeader, type PostgresEngineLeader } from './postgres-engine-leader.ts';
import { createPostgresStateStore } from './postgres/postgres-state-store.ts';
import { createTestDatabase, type TestDatabase } from './postgres/postgres.test-support.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Replicas of one deployment on one database: shared storage, signer, cipher and executor state. */
function deployment(database: TestDatabase) {
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const cipher = createInMemoryCipher();
  const registry: InMemoryExecutorRegistry = { executions: new Map() };
  const started = new Map<string, number>();
  // Tasks of items numbered `held.from` and up run only once `release()` is called: a test that
  // catches a run mid-flight says when its flight may go on, not how fast the machine is.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const held = { from: Infinity, release };
  const replica = (instanceId: string): { leader: PostgresEngineLeader; leading: () => Engine | undefined } => {
    // Each task takes 20-60 ms.
    const executor = createInMemoryExecutor({
      registry,
      run: async (task, signal) => {
        started.set(task.executionId, (started.get(task.executionId) ?? 0) + 1);
        const index = /\/item-(\d+)\//.exec(task.executionId)?.[1];
        if (index !== undefined && Number(index) >= held.from)
          await new Promise<void>((resolve) => {
            signal.addEventListener('abort', () => resolve(), { once: true });
            void released.then(resolve);
          });
        // An item named slow-holder holds its locks long enough to be seen holding them.
        const runsFor = task.executionId.includes('/slow-holder/') ? 1_500 : 20 + (task.executionId.length % 5) * 10;
        await sleep(runsFor, undefined, { signal }).catch(() => undefined);
        return 0;
      },
    });
    const leader = createPostgresEngineLeader({
      store: createPostgresStateStore(database.settings),
      instanceId,
      engine: { executors: { local: executor }, storage, signer, cipher, concurrency: 8, reconcileIntervalMs: 50, inboxPollMs: false },
    });
    leader.start();
    cleanups.push(() => leader.stop());
    return { leader, leading: () => leader.engine };
  };
  return { replica, started, cipher, held };
}

describe('the engine on PostgreSQL (ADR 0023)', () => {
  it(
    'runs on the replica holding the lease, takes commands from the others, and fails over without losing or repeating an item',
    { timeout: 240_000 },
    async () => {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const { replica, started, held } = deployment(database);
      // Items from 50 on run until the lease has gone: the run is caught mid-flight, with tasks running.
      held.from = 50;
      const a = replica('replica-a');
      await until(() => a.leading() !== undefined);
      const b = replica('replica-b');
      const sender = createPostgresCommandSender({ state: database.settings, timeoutMs: 15_000 });
      cleanups.push(() => sender.close());
      const { reads, close } = openPostgresEngineReads(database.settings);
      cleanups.push(close);

      const items = Array.from({ length: 200 }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command', argv: ['true'] } }));
      const { runId } = (await sender.send('submit', { document: { version: 1, name: 'failover', items }, options: {} } as unknown as JsonValue, {
        actor: ana as unknown as JsonValue,
      })) as { runId: string };
      // Readers see the run as soon as the submit's answer is back: it was committed with it.
      expect((await reads.run(runId))?.itemsTotal).toBe(200);

      const heldRunning = () => [...started.keys()].filter((executionId) => Number(/\/item-(\d+)\//.exec(executionId)?.[1]) >= held.from).length;
      // Some items have ended and held ones run (or fill every slot): the run is mid-flight.
      await until(async () => heldRunning() > 0 && (((await reads.run(runId))?.itemsFinished ?? 0) >= 10 || heldRunning() >= 8), 120_000);
      expect(b.leading()).toBeUndefined();
      // Kill the leader's session, as a crash of its machine would end it: an engine other than the
      // one that held the lease leads (B, or A again once it has reloaded). Taking over waits for no
      // timer (the lock goes with the session), so the deadline is only one a loaded machine meets.
      const before = a.leading();
      const admin = await database.client();
      await admin.query(`SELECT pg_terminate_backend(backend_pid::int) FROM cairn.engine_leader`);
      // The run was caught mid-flight: tasks were running when the lease went.
      expect((await reads.run(runId))?.itemsFinished).toBeLessThanOrEqual(50);
      expect(heldRunning()).toBeGreaterThan(0);
      held.release();
      const current = () => b.leading() ?? a.leading();
      await until(() => current() !== undefined && current() !== before, 60_000);

      await until(async () => (await reads.run(runId))?.state === 'succeeded', 120_000);
      const stored = await reads.items(runId);
      expect(stored.map((item) => item.state)).toEqual(Array(200).fill('succeeded'));
      // Every item ran once: a task dispatched before the failover was re-attached, not run again.
      for (const item of stored) {
        const attempts = await reads.attempts(runId, item.itemId);
        expect(attempts.filter((attempt) => attempt.state === 'succeeded')).toHaveLength(1);
        for (const attempt of attempts) expect(started.get(attempt.executionId)).toBe(1);
      }
      // The log is gapless and verifies: the new leader's bundle covers entries both leaders wrote.
      const engine = current()!;
      const bundle = await engine.exportBundle(runId);
      const verdict = await verifyBundle(bundle, { trustedKeys: bundle.keys });
      expect(verdict.valid).toBe(true);
      const entries = [];
      for await (const entry of reads.auditQuery({})) entries.push(entry);
      expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, index) => index));
    },
  );

  it("answers a replica's refused command with the engine's own error, and seals secrets on their way", async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const { replica, cipher } = deployment(database);
    const a = replica('replica-a');
    await until(() => a.leading() !== undefined);
    const sender = createPostgresCommandSender({ state: database.settings, timeoutMs: 15_000 });
    cleanups.push(() => sender.close());
    const refused = await sender
      .send('submit', { document: { version: 1, name: 'bad', items: [] }, options: {} } as unknown as JsonValue, { actor: ana as unknown as JsonValue })
      .catch((error: unknown) => error);
    expect(isCairnError(refused, 'CAIRN_RUN_SPEC_INVALID')).toBe(true);

    const sealed = await cipher.encrypt(new TextEncoder().encode('hunter2'), { purpose: 'cairn-set-secret-command', secret: 'API_KEY' });
    const secret = (await sender.send('set-secret', { name: 'API_KEY', sealed } as unknown as JsonValue, { actor: ana as unknown as JsonValue })) as {
      name: string;
      version: number;
    };
    expect(secret).toMatchObject({ name: 'API_KEY', version: 1 });
    const admin = await database.client();
    const { rows } = await admin.query<{ payload: string }>(`SELECT payload::text FROM cairn.engine_commands WHERE kind = 'set-secret'`);
    expect(rows[0]!.payload).not.toContain('hunter2');
    expect(
      a
        .leading()!
        .secrets()
        .map((record) => record.name),
    ).toEqual(['API_KEY']);
  });

  it("readers of the database answer what the leader's engine answers, once committed", async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const a = deployment(database).replica('replica-a');
    await until(() => a.leading() !== undefined);
    const engine = a.leading()!;
    const { reads, close } = openPostgresEngineReads(database.settings);
    cleanups.push(close);
    const spec = (name: string) => ({
      version: 1,
      name,
      items: [
        { id: 'build', runtime: { kind: 'command', argv: ['true'] } },
        { id: 'ship', dependsOn: ['build'], approval: 'required', runtime: { kind: 'command', argv: ['true'] } },
      ],
    });
    const first = engine.submit(spec('first'), { actor: ana, idempotencyKey: 'nightly' }).runId;
    const second = engine.submit(spec('second'), { actor: ana }).runId;
    await until(() => engine.items(first).some((item) => item.state === 'awaiting-approval'));
    engine.approve(first, 'ship', ana, 'looks good');
    await engine.waitForRun(first);
    engine.cancelRun(second, ana, 'not today');
    await engine.waitForRun(second);
    // Two items sharing a lock: the second waits for it, and its attempt says so on both backends.
    const locked = engine.submit(
      {
        version: 1,
        name: 'locked',
        items: [
          { id: 'slow-holder', locks: ['deploy'], runtime: { kind: 'command', argv: ['true'] } },
          { id: 'waiter', locks: ['deploy'], runtime: { kind: 'command', argv: ['true'] } },
        ],
      },
      { actor: ana },
    ).runId;
    // While it waits, the readers show the item's wait as the engine does.
    await until(async () => (await reads.items(locked)).find((item) => item.itemId === 'waiter')?.lockWait != null);
    expect(engine.items(locked).find((item) => item.itemId === 'waiter')!.lockWait).toMatchObject({ locks: ['deploy'] });
    expect(await reads.items(locked)).toEqual(engine.items(locked));
    await engine.waitForRun(locked);
    expect(engine.attempts(locked, 'waiter')[0]!.lockWait).toMatchObject({ locks: ['deploy'] });
    expect(engine.attempts(locked, 'slow-holder')[0]!.lockWait).toBeNull();
    await until(async () => (await reads.run(second))?.state === engine.run(second)?.state);
    await until(async () => (await reads.run(locked))?.state === engine.run(locked)?.state);

    for (const runId of [first, second, locked]) {
      expect(await reads.run(runId)).toEqual(engine.run(runId));
      expect(await reads.items(runId)).toEqual(engine.items(runId));
      expect(await reads.spec(runId)).toEqual(engine.spec(runId));
      for (const item of engine.items(runId)) {
        expect(await reads.attempts(runId, item.itemId)).toEqual(engine.attempts(runId, item.itemId));
        expect(await reads.artifacts(runId, item.itemId)).toEqual(engine.artifacts(runId, item.itemId));
      }
    }
    expect(await reads.runs({ limit: 1 })).toEqual(engine.runs({ limit: 1 }));
    const next = engine.runs({ limit: 1 }).nextCursor!;
    expect(await reads.runs({ limit: 1, cursor: next })).toEqual(engine.runs({ limit: 1, cursor: next }));
    expect(await reads.runs({ state: 'cancelled' })).toEqual(engine.runs({ state: 'cancelled' }));
    await expect(reads.runs({ limit: 0 })).rejects.toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'limit' });
    engine.addSchedule({ scheduleId: 'nightly', cron: '0 3 * * *', spec: spec('nightly') }, ana);
    await engine.setSecret('API_KEY', 'hunter2', ana);
    await until(async () => (await reads.secrets()).length === 1);
    expect(await reads.schedules()).toEqual(engine.schedules());
    expect(await reads.secrets()).toEqual(engine.secrets());
    const { auditEntries, unanchoredEntries, pendingCheckpoints, ...counts } = engine.metrics();
    expect(await reads.counts()).toEqual(counts);
    expect(await reads.anchoringLag()).toEqual({ unanchoredEntries, pendingCheckpoints });
    expect(await reads.auditSize()).toBe(auditEntries);
    const query = { runId: first, action: 'item.approved' };
    const fromDatabase = [];
    for await (const entry of reads.auditQuery(query)) fromDatabase.push(entry);
    expect(fromDatabase).toEqual([...engine.audit.query(query)]);
    expect(fromDatabase).toHaveLength(1);
    expect(() => reads.auditQuery({ since: 'yesterday' })).toThrow(expect.objectContaining({ path: 'since' }));
    expect(await reads.auditPage(0, 5)).toEqual(engine.audit.page(0, 5));
    expect(await reads.runEntriesAfter(first, 3, 4)).toEqual(engine.audit.runEntriesAfter(first, 3, 4));
  });
});
