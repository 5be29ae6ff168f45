import { Queue, Worker } from 'bullmq';
import type { RedisServer } from './redis-server.ts';
import { assertFsyncsEveryWrite } from './bullmq-durable-fanout.ts';

export interface BullmqChainResult {
  readonly wallMs: number;
  /**
   * Each hop's latency, in chain order: from the moment job N's processor returned (its exit) to
   * the moment job N + 1's processor was entered (its start), as the engine's chain is measured
   * (its executor's exit to the dependent's start).
   */
  readonly hopsMs: readonly number[];
}

/**
 * BullMQ's side of the chain rows: `length` no-op jobs on a fresh queue on `redis`, each added
 * when the one before it has completed, the engine's chain in BullMQ's terms: the worker records
 * job N as completed (`moveToCompleted`, a write redis acknowledges, fsynced first under
 * `appendfsync always`), its `completed` event adds job N + 1 (another acknowledged write), and
 * the worker takes that job and runs it. BullMQ's defaults otherwise, one Worker at
 * `concurrency`. The time runs from the first add to the last completion; throws unless every
 * job ran, in order, and redis counts them completed.
 */
export async function bullmqChain(redis: RedisServer, length: number, concurrency: number): Promise<BullmqChainResult> {
  const connection = { host: redis.host, port: redis.port };
  // A queue of its own per round, so no round finds another's jobs.
  const name = `bench-chain-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection });
  const startedAt: number[] = [];
  const exitedAt: number[] = [];
  let failed: Error | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(
    name,
    async (job) => {
      const index = (job.data as { index: number }).index;
      startedAt[index] = performance.now();
      exitedAt[index] = performance.now();
    },
    { connection, concurrency },
  );
  const fail = (error: Error) => {
    failed ??= error;
    finish();
  };
  worker.on('completed', (job) => {
    const index = (job.data as { index: number }).index;
    if (index + 1 === length) finish();
    else queue.add('no-op', { index: index + 1 }).catch(fail);
  });
  worker.on('failed', (_job, error) => fail(error));
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const started = performance.now();
    await queue.add('no-op', { index: 0 });
    await finished;
    const wallMs = performance.now() - started;
    if (failed) throw new Error(`a BullMQ chain job failed: ${failed.message}`);
    const stored = await queue.getCompletedCount();
    if (stored !== length) throw new Error(`BullMQ's queue holds ${stored} completed jobs of ${length}`);
    const hopsMs = Array.from({ length: length - 1 }, (_, index) => {
      const next = startedAt[index + 1];
      const exited = exitedAt[index];
      if (next === undefined || exited === undefined || next < exited)
        throw new Error(`BullMQ's chain job ${index + 1} did not start after job ${index} exited`);
      return next - exited;
    });
    return { wallMs, hopsMs };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

/** Runs bullmqChain on `redis` once redis itself says it fsyncs every write. */
export async function bullmqDurableChain(redis: RedisServer, length: number, concurrency: number): Promise<BullmqChainResult> {
  await assertFsyncsEveryWrite(redis);
  return bullmqChain(redis, length, concurrency);
}
