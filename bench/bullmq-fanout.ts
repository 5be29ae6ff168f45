import { Queue, Worker } from 'bullmq';
import type { RedisServer } from './redis-server.ts';

export interface BullmqFanoutResult {
  readonly wallMs: number;
  /** This process's CPU time: BullMQ's queue and worker. */
  readonly clientCpuMs: number;
  /** The redis-server's CPU time: the other half of BullMQ's work (its Lua scripts run there). */
  readonly redisCpuMs: number;
}

/**
 * BullMQ's side of the peer row: `count` no-op jobs through a fresh queue on `redis`, one Worker
 * at `concurrency`, as a fair user would run them: the worker waits, the jobs are queued in bulk,
 * the time runs from the first add to the last completion. BullMQ's defaults otherwise (completed
 * jobs are kept, as the engine keeps its items). Returns the wall time and, over the same span, the
 * CPU time of this process (BullMQ's queue and worker) and of the redis-server, in milliseconds.
 */
export async function bullmqFanout(redis: RedisServer, count: number, concurrency: number): Promise<BullmqFanoutResult> {
  const connection = { host: redis.host, port: redis.port };
  // A queue of its own per round, so no round finds another's jobs.
  const name = `bench-${process.pid}-${Date.now()}`;
  const queue = new Queue(name, { connection });
  let completed = 0;
  let failed: Error | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const worker = new Worker(name, async () => undefined, { connection, concurrency });
  worker.on('completed', () => {
    if (++completed === count) finish();
  });
  worker.on('failed', (_job, error) => {
    failed = error;
    finish();
  });
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const started = performance.now();
    const clientCpu = process.cpuUsage();
    const redisCpuBefore = redis.cpuMilliseconds();
    // addBulk in slices: one MULTI of 10,000 jobs is accepted, but a slice is what a producer
    // streaming work sends, and the worker starts on the first slice while the next is queued.
    for (let first = 0; first < count; first += 1_000) {
      await queue.addBulk(Array.from({ length: Math.min(1_000, count - first) }, (_, index) => ({ name: 'no-op', data: { index: first + index } })));
    }
    await finished;
    const wallMs = performance.now() - started;
    const clientCpuUsed = process.cpuUsage(clientCpu);
    const redisCpuMs = redis.cpuMilliseconds() - redisCpuBefore;
    if (failed) throw new Error(`a BullMQ job failed: ${failed.message}`);
    // Redis's own count, after the clock stopped: every job ran, none was only heard of.
    const stored = await queue.getCompletedCount();
    if (stored !== count) throw new Error(`BullMQ's queue holds ${stored} completed jobs of ${count}`);
    return { wallMs, clientCpuMs: (clientCpuUsed.user + clientCpuUsed.system) / 1000, redisCpuMs };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}
