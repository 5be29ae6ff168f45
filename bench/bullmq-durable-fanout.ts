// BullMQ's durable peer row: the same queue and worker as bench/bullmq-fanout.ts, on a
// redis-server started with `--appendonly yes --appendfsync always` (and no RDB snapshots), so
// redis fsyncs its append-only file before it answers a write: a job `addBulk` was told was added,
// a job taken and a completion recorded are on disk. The server is asked for its settings before
// each round, so the row cannot quietly run on a server that keeps nothing (the chain's rows too:
// bench/bullmq-chain.ts).
import { Redis } from 'ioredis';
import { bullmqFanout, type BullmqFanoutResult } from './bullmq-fanout.ts';
import type { RedisServer } from './redis-server.ts';

/** Runs bullmqFanout on `redis` once redis itself says it fsyncs every write. */
export async function bullmqDurableFanout(redis: RedisServer, count: number, concurrency: number): Promise<BullmqFanoutResult> {
  await assertFsyncsEveryWrite(redis);
  return bullmqFanout(redis, count, concurrency);
}

/** Throws unless `redis` itself says it appends every write to its file and fsyncs it before answering. */
export async function assertFsyncsEveryWrite(redis: RedisServer): Promise<void> {
  const client = new Redis({ host: redis.host, port: redis.port, lazyConnect: true });
  try {
    await client.connect();
    const settings = (await client.config('GET', 'appendonly', 'appendfsync')) as string[];
    const setting = (name: string) => settings[settings.indexOf(name) + 1];
    if (setting('appendonly') !== 'yes' || setting('appendfsync') !== 'always')
      throw new Error(`the durable BullMQ row needs appendonly yes and appendfsync always; its redis-server has ${settings.join(' ')}`);
  } finally {
    client.disconnect();
  }
}
