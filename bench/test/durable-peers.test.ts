import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bullmqDurableFanout } from '../bullmq-durable-fanout.ts';
import { dbosFanout } from '../dbos-fanout.ts';
import { graphileWorkerFanout } from '../graphile-worker-fanout.ts';
import { runPostgresEngineItems } from '../postgres-engine-fanout.ts';
import { startPostgresServer, type PostgresServer } from '../postgres-server.ts';
import { startRedisServer } from '../redis-server.ts';

/** The files of a redis-server's append-only folder and their text, read through the server's own settings. */
async function appendOnlyFiles(host: string, port: number): Promise<string> {
  const client = new Redis({ host, port });
  try {
    const [, directory] = (await client.config('GET', 'dir')) as string[];
    const [, folder] = (await client.config('GET', 'appenddirname')) as string[];
    const path = join(directory!, folder!);
    return readdirSync(path)
      .map((file) => readFileSync(join(path, file), 'latin1'))
      .join('');
  } finally {
    client.disconnect();
  }
}

test("BullMQ's durable row runs on a redis-server that appends every job to its append-only file, and refuses one that keeps nothing", async () => {
  const durable = await startRedisServer('fsync-every-write');
  const plain = await startRedisServer('none');
  try {
    // bullmqDurableFanout throws unless the queue holds every job completed.
    expect((await bullmqDurableFanout(durable, 200, 20)).wallMs).toBeGreaterThan(0);
    // Redis's own record on disk: BullMQ's job hashes are in the append-only file.
    expect(await appendOnlyFiles(durable.host, durable.port)).toContain('no-op');
    await expect(bullmqDurableFanout(plain, 10, 5)).rejects.toThrow(/appendonly yes and appendfsync always/);
  } finally {
    await durable.stop();
    await plain.stop();
  }
});

describe('the peers on PostgreSQL', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgresServer();
  });
  afterAll(() => server?.stop());

  test("pg_stat_wal's WAL fsyncs count a durable commit, and count the engine's fan-out on PostgreSQL", async () => {
    const database = await server.createDatabase();
    try {
      const before = await server.walSyncs();
      const client = new pg.Client({ connectionString: database.connectionString });
      await client.connect();
      await client.query('CREATE TABLE t (n int)');
      for (let index = 0; index < 5; index++) await client.query('INSERT INTO t VALUES ($1)', [index]);
      await client.end();
      // Each autocommitted statement waited for its WAL to be flushed (synchronous_commit on).
      expect((await server.walSyncs()) - before).toBeGreaterThanOrEqual(6);
    } finally {
      await database.drop();
    }
    const { walSyncs, counts } = await runPostgresEngineItems(
      server,
      Array.from({ length: 200 }, (_, index) => ({ id: `item-${index}` })),
      20,
    );
    // At least one flush a group commit, and far fewer than one an item.
    expect(walSyncs).toBeGreaterThanOrEqual(counts.commits);
    expect(walSyncs).toBeLessThan(200);
  });

  test('graphile-worker runs its jobs to their end (PostgreSQL holds none left), in consecutive rounds', async () => {
    // graphileWorkerFanout throws unless every job succeeded and its row is gone.
    expect((await graphileWorkerFanout(server, 300, 20)).wallMs).toBeGreaterThan(0);
    expect((await graphileWorkerFanout(server, 50, 5)).wallMs).toBeGreaterThan(0);
  });

  test('DBOS runs its workflows to their results, launched and shut down again in one process', async () => {
    // dbosFanout throws unless every workflow returned its own index.
    expect((await dbosFanout(server, 100, 20)).wallMs).toBeGreaterThan(0);
    expect((await dbosFanout(server, 30, 5)).wallMs).toBeGreaterThan(0);
  });
});
