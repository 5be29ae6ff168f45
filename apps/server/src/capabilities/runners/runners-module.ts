import type { RunnerExecutor } from '@cairn/runner';
import type { ModuleContext, ServerModule } from '../../composition/server-module.ts';

/**
 * Runners (ADR 0050), when `runners.enabled`: the lease book that is the engine's `runners`
 * executor, made before the engine (which is built over its executors), and the routes runners
 * poll and report on. Its leases live in this process: a restart loses those no runner re-adopts
 * within the lease time, which the engine then records lost.
 */
export const runnersModule: ServerModule<ModuleContext, 'runners', RunnerExecutor | undefined> = {
  name: 'runners',
  async start({ loaded, storage, logger }) {
    const settings = loaded.config.runners;
    if (!settings.enabled) return undefined;
    const { createRunnerExecutor } = await import('@cairn/runner');
    const leaseMs = settings.leaseSeconds * 1_000;
    // A poll waits at most half the lease: a runner in a waiting poll keeps its leases.
    return createRunnerExecutor({ leaseMs, pollWaitMs: Math.min(25_000, Math.floor(leaseMs / 2)), storage, ...(logger ? { logger } : {}) });
  },
  close: (executor) => executor?.close(),
  async routes(app, composition) {
    if (composition.runners === undefined) return;
    const { registerRunnerRoutes } = await import('./runner-routes.ts');
    registerRunnerRoutes(app, composition.runners);
  },
};
