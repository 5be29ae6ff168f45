import { expect, test } from 'vitest';
import { bullmqFanoutMs } from '../bullmq-fanout.ts';
import { startRedisServer } from '../redis-server.ts';
import { acceptsConnections } from '../free-loopback-port.ts';

test('a redis-server of its own runs BullMQ jobs to their end (Redis counts them completed), and is gone after stop', async () => {
  const redis = await startRedisServer();
  try {
    expect(await acceptsConnections(redis.port)).toBe(true);
    // bullmqFanoutMs throws unless the queue holds every job completed.
    const wallMs = await bullmqFanoutMs(redis, 2_500, 50);
    expect(wallMs).toBeGreaterThan(0);
    // Each round uses a queue of its own: a second round finds none of the first's jobs.
    expect(await bullmqFanoutMs(redis, 100, 5)).toBeGreaterThan(0);
  } finally {
    await redis.stop();
  }
  expect(await acceptsConnections(redis.port)).toBe(false);
});
