import { expect, test } from 'vitest';
import { bullmqChain, bullmqDurableChain } from '../bullmq-chain.ts';
import { startRedisServer } from '../redis-server.ts';

test("BullMQ's chain runs each job after the one before it completed, on both servers, and its durable row refuses a server that keeps nothing", async () => {
  const plain = await startRedisServer('none');
  const durable = await startRedisServer('fsync-every-write');
  try {
    // Both throw unless every job ran after its predecessor exited and redis counts them completed.
    for (const result of [await bullmqChain(plain, 60, 16), await bullmqDurableChain(durable, 60, 16)]) {
      expect(result.hopsMs).toHaveLength(59);
      // A hop is at least one redis round trip (the next job's add) after the exit.
      expect(Math.min(...result.hopsMs)).toBeGreaterThan(0);
      expect(result.wallMs).toBeGreaterThanOrEqual(result.hopsMs.reduce((sum, hop) => sum + hop, 0));
    }
    await expect(bullmqDurableChain(plain, 5, 1)).rejects.toThrow(/appendonly yes and appendfsync always/);
  } finally {
    await plain.stop();
    await durable.stop();
  }
});
