import type { ExecutorV1, Logger } from '@cairn/core';
import type { LeaderTask, ModelCallAccess } from '@cairn/engine';

/** An executor that can delete what its attempts left behind (the Kubernetes executor's ended pods). */
interface SweepingExecutor {
  sweep(live: (executionId: string) => boolean): Promise<readonly string[]>;
}

const sweeps = (executor: ExecutorV1): executor is ExecutorV1 & SweepingExecutor => typeof (executor as Partial<SweepingExecutor>).sweep === 'function';

/**
 * Each time this process starts running the engine (at start on SQLite; on PostgreSQL whenever it
 * takes the writer lease), the configured executors that can sweep delete what belongs to attempts
 * the engine no longer knows as live: a Kubernetes executor's pods of attempts that ended while no
 * server read them, or that were recorded lost. Live attempts are left to the engine, which reads
 * their exits first. Once per start, in the background: a failure is logged, never fatal (the next
 * start sweeps again, and each exit read deletes its own pod meanwhile).
 */
export function executorSweep(executors: readonly ExecutorV1[], engine: () => Pick<ModelCallAccess, 'liveAttempt'>, logger?: Logger): LeaderTask {
  let running: Promise<void> | undefined;
  return {
    start() {
      const sweeping = executors.filter(sweeps);
      if (sweeping.length === 0) return;
      running = Promise.all(
        sweeping.map((executor) =>
          executor
            .sweep((executionId) => engine().liveAttempt(executionId) !== undefined)
            .catch((error: unknown) =>
              logger?.warn(
                { executor: executor.provider, error: String(error) },
                'could not sweep the executor of what ended attempts left; the next start tries again',
              ),
            ),
        ),
      ).then(() => undefined);
    },
    async stop() {
      await running;
    },
  };
}
