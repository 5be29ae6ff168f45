// The engine service of a replica in PostgreSQL mode answers as the engine in its own process does
// (the same suite as `engine.service()`), whether this replica leads or another one does.
import { setTimeout as sleep } from 'node:timers/promises';
import { createInMemoryCipher, createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import type { AuditActor, CairnEvent, CipherV1 } from '@cairn/core';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { describeEngineService } from '../../engine-service.test-support.ts';
import { harnessTask, openHarnessGate } from '../../engine.test-support.ts';
import { createPostgresEngineLeader, type PostgresEngineLeader } from '../postgres-engine-leader.ts';
import { PostgresEngineReads } from './postgres-engine-reads.ts';
import { createPostgresEngineService, type PostgresEngineService } from './postgres-engine-service.ts';
import { createPostgresStateStore } from './postgres-state-store.ts';
import { createTestDatabase, cutOffCommandInsert, type TestDatabase } from './postgres.test-support.ts';

const opened: { database: TestDatabase; leaders: PostgresEngineLeader[]; services: PostgresEngineService[] }[] = [];
afterAll(async () => {
  for (const { database, leaders, services } of opened) {
    for (const service of services) await service.close();
    for (const leader of leaders) await leader.stop();
    await database.drop();
  }
  // Some thirty deployments to close: a minute or more on a loaded machine; nothing is timed.
}, 300_000);

/**
 * A deployment of two replicas on a fresh database, A running the engine and B not: the service
 * under test is B's when `through` is 'follower' (every command crosses engine_commands), A's otherwise.
 */
async function deployment(through: 'leader' | 'follower') {
  const database = await createTestDatabase();
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const cipher = createInMemoryCipher();
  const executor = createInMemoryExecutor({ run: harnessTask(storage, new Map(), new Map()) });
  const replica = (instanceId: string, replicaCipher: CipherV1 = cipher) => {
    const store = createPostgresStateStore(database.settings);
    const leader = createPostgresEngineLeader({
      store,
      instanceId,
      engine: { executors: { local: executor }, storage, signer, cipher: replicaCipher, reconcileIntervalMs: 20, inboxPollMs: false },
    });
    return { leader, service: createPostgresEngineService({ state: database.settings, store, leader, cipher: replicaCipher }) };
  };
  const a = replica('replica-a');
  a.leader.start();
  while (!a.leader.engine) await sleep(10);
  const b = replica('replica-b');
  b.leader.start();
  const deployed = { database, leaders: [b.leader, a.leader], services: [a.service, b.service] };
  opened.push(deployed);
  /** A third replica, not started (it never leads), whose cipher is `replicaCipher`. */
  const another = (replicaCipher: CipherV1) => {
    const c = replica('replica-c', replicaCipher);
    deployed.services.push(c.service);
    return c.service;
  };
  return { database, service: through === 'leader' ? a.service : b.service, engine: a.leader.engine, another };
}

describeEngineService('PostgreSQL, the replica that runs the engine', () => deployment('leader'));
describeEngineService('PostgreSQL, a replica that does not run the engine', () => deployment('follower'));

describe('PostgreSQL event streams of some types', () => {
  const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };

  test('a following stream reads on from the log end its last read saw, not again from the last event it kept', { timeout: 150_000 }, async () => {
    const { service, database } = await deployment('follower');
    const reads = vi.spyOn(PostgresEngineReads.prototype, 'runEntriesAfter');
    // The log sizes read (before each page a stream reads its end), by the reads that asked.
    const sizes: { readonly reads: PostgresEngineReads; readonly size: number }[] = [];
    const auditSize = PostgresEngineReads.prototype.auditSize;
    const sized = vi.spyOn(PostgresEngineReads.prototype, 'auditSize').mockImplementation(async function (this: PostgresEngineReads) {
      const size = await auditSize.call(this);
      sizes.push({ reads: this, size });
      return size;
    });
    try {
      // Forty quick items, then one that waits for them and runs until the test lets it end: once
      // the stream has read the log's end past the quick items' entries, so the run's last commits
      // wake a stream that saw them, however slow the machine (a 300 ms sleep once raced this).
      const gate = `followed-${Math.random()}`;
      const quick = Array.from({ length: 40 }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command' as const, argv: ['true'] } }));
      const last = { id: 'last', dependsOn: quick.map((item) => item.id), runtime: { kind: 'command' as const, argv: ['wait-for', gate] } };
      const { runId } = await service.submit({ version: 1, name: 'followed', items: [...quick, last] }, { actor: ana });
      const letLastEnd = (async () => {
        const oracle = await database.client();
        const deadline = Date.now() + 120_000;
        const quickDone = async () => (await service.items(runId)).filter((item) => item.itemId !== 'last').every((item) => item.state === 'succeeded');
        while (Date.now() < deadline && !(await quickDone())) await sleep(20);
        // Read past the service (its reads would count as the stream's).
        const logEnd = (await oracle.query(`SELECT max(seq)::int AS seq FROM cairn.audit_entries WHERE run_id = $1`, [runId])).rows[0].seq as number;
        const streamReads = () => reads.mock.contexts.find((_, index) => reads.mock.calls[index]![0] === runId && reads.mock.calls[index]![3] !== undefined);
        // The stream read the log's end after the quick items' last commit (that commit wakes it).
        while (Date.now() < deadline && !sizes.some((read) => read.reads === streamReads() && read.size - 1 >= logEnd)) await sleep(20);
        openHarnessGate(gate);
      })();
      const seen: CairnEvent[] = [];
      for await (const event of service.events({ runId, types: ['run.state'] })) {
        seen.push(event);
        if (event.type === 'run.state' && event.state === 'succeeded') break;
      }
      await letLastEnd;
      expect(seen.map((event) => event.type === 'run.state' && event.state)).toEqual(['queued', 'running', 'succeeded']);
      const running = seen[1]!.id;
      const ofStream = reads.mock.calls.filter((call) => call[0] === runId && call[3] !== undefined).map((call) => call[1]);
      // Woken by the commits between `running` and `succeeded` (the quick items' 160 entries and
      // more), the stream read on from the log's end: a later read started past them.
      expect(Math.max(...ofStream)).toBeGreaterThan(running + 100);
    } finally {
      reads.mockRestore();
      sized.mockRestore();
    }
  });
});

describe('PostgreSQL submissions cut off', () => {
  const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
  const keyed = { version: 1, name: 'keyed', idempotencyKey: 'nightly-2026-11-24', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] };

  test('one with an idempotency key is sent once more and makes its run once', async () => {
    const { database, service } = await deployment('follower');
    const outcome = await cutOffCommandInsert(database, () => service.submit(keyed, { actor: ana }));
    expect(outcome).toMatchObject({ result: { created: true } });
    const oracle = await database.client();
    expect((await oracle.query(`SELECT count(*)::int AS count FROM cairn.runs`)).rows[0].count).toBe(1);
  });

  test('one without a key is not sent again: the error says whether it was recorded is not known', async () => {
    const { database, service } = await deployment('follower');
    const { idempotencyKey: _key, ...unkeyed } = keyed;
    const outcome = await cutOffCommandInsert(database, () => service.submit(unkeyed, { actor: ana }));
    expect(outcome).toMatchObject({ error: { code: 'CAIRN_STATE_UNAVAILABLE', details: { kind: 'submit', recorded: 'unknown' } } });
    const oracle = await database.client();
    expect((await oracle.query(`SELECT count(*)::int AS count FROM cairn.engine_commands WHERE kind = 'submit'`)).rows[0].count).toBe(0);
  });
});

describe('PostgreSQL server secrets', () => {
  const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
  const reveal = (promise: Promise<string>) =>
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error: { ...(error as object), message: (error as Error).message } }),
    );

  test('a replica that does not run the engine reveals what the engine does: the value, and the same refusals naming the secret', async () => {
    const { database, service, engine } = await deployment('follower');
    await service.setSecret('FORGE_TOKEN', 'ghp_follower', ana);
    // A row copied under another name does not open: the cipher context binds the name.
    const oracle = await database.client();
    await oracle.query(
      `INSERT INTO cairn.secrets SELECT 'COPIED_TOKEN', version, envelope, updated_at, updated_by FROM cairn.secrets WHERE name = 'FORGE_TOKEN'`,
    );
    const purpose = 'The forge github.com (config.forges.github.tokenSecret)';
    for (const [name, expected] of [
      ['FORGE_TOKEN', { value: 'ghp_follower' }],
      [
        'NOT_SET',
        {
          error: {
            code: 'CAIRN_SECRET_UNAVAILABLE',
            path: 'NOT_SET',
            message: `${purpose} needs the server secret NOT_SET, which is not set: set it with \`cairn secret set NOT_SET\`.`,
          },
        },
      ],
      [
        'COPIED_TOKEN',
        {
          error: {
            code: 'CAIRN_SECRET_UNAVAILABLE',
            path: 'COPIED_TOKEN',
            message: `${purpose} needs the server secret COPIED_TOKEN, which could not be decrypted (CAIRN_CIPHER_DECRYPT_FAILED): the cipher key may have changed; set the secret again.`,
          },
        },
      ],
    ] as const) {
      const atFollower = await reveal(service.modelCalls.revealSecret(name, purpose));
      expect(atFollower).toMatchObject(expected);
      // The engine's own answer, from its working copy: the same (the row copied behind its back
      // is not in its working copy, which only its own commits change).
      if (name !== 'COPIED_TOKEN') expect(await reveal(engine!.revealSecret(name, purpose))).toEqual(atFollower);
    }
  });

  test("a replica whose cipher key is not the deployment's says the secret does not decrypt, never what it holds", async () => {
    const { service, another } = await deployment('follower');
    await service.setSecret('FORGE_TOKEN', 'ghp_elsewhere', ana);
    const stranger = another(createInMemoryCipher());
    const refused = await reveal(stranger.modelCalls.revealSecret('FORGE_TOKEN'));
    expect(refused).toMatchObject({
      error: {
        code: 'CAIRN_SECRET_UNAVAILABLE',
        path: 'FORGE_TOKEN',
        message: 'The server secret FORGE_TOKEN could not be decrypted (CAIRN_CIPHER_DECRYPT_FAILED): the cipher key may have changed; set the secret again.',
      },
    });
    expect(JSON.stringify(refused)).not.toContain('ghp_elsewhere');
  });
});
