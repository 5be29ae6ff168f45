import { expect, test } from 'vitest';
import { bullmqFanout } from '../bullmq-fanout.ts';
import { startRedisServer } from '../redis-server.ts';
import { acceptsConnections } from '../free-loopback-port.ts';

test('a redis-server of its own runs BullMQ jobs to their end (Redis counts them completed), and is gone after stop', async () => {
  const redis = await startRedisServer();
  try {
    expect(await acceptsConnections(redis.port)).toBe(true);
    // bullmqFanout throws unless the queue holds every job completed.
    const first = await bullmqFanout(redis, 2_500, 50);
    expect(first.wallMs).toBeGreaterThan(0);
    // Both halves of BullMQ's work are measured: 2,500 jobs' Lua scripts cost redis-server some
    // CPU (its clock ticks are 10 ms), and the worker's process more.
    expect(first.redisCpuMs).toBeGreaterThan(0);
    expect(first.clientCpuMs).toBeGreaterThan(0);
    // Each round uses a queue of its own: a second round finds none of the first's jobs.
    expect((await bullmqFanout(redis, 100, 5)).wallMs).toBeGreaterThan(0);
  } finally {
    await redis.stop();
  }
  expect(await acceptsConnections(redis.port)).toBe(false);
});
