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
  async start({ loaded, storage, metrics, logger }) {
    const settings = loaded.config.runners;
    if (!settings.enabled) return undefined;
    const { createRunnerExecutor } = await import('@cairn/runner');
    const leaseMs = settings.leaseSeconds * 1_000;
    // A poll waits at most half the lease: a runner in a waiting poll keeps its leases.
    const executor = createRunnerExecutor({ leaseMs, pollWaitMs: Math.min(25_000, Math.floor(leaseMs / 2)), storage, ...(logger ? { logger } : {}) });
    metrics.watchRunners(executor);
    return executor;
  },
  close: (executor) => executor?.close(),
  async routes(app, composition) {
    const runners = composition.runners;
    // Answered on every server (404 without runners): the API is the same whatever the config.
    const { registerRunnerAdminRoutes } = await import('./runner-admin-routes.ts');
    registerRunnerAdminRoutes(app, runners, composition.tokens);
    if (runners === undefined) return;
    const [{ registerRunnerRoutes }, { registerRunnerStorageRoutes }, { auditLateResult }] = await Promise.all([
      import('./runner-routes.ts'),
      import('./runner-storage-routes.ts'),
      import('./late-results.ts'),
    ]);
    registerRunnerRoutes(app, runners, (late) => auditLateResult(composition.service, late));
    registerRunnerStorageRoutes(app, {
      storage: composition.storage,
      leases: runners,
      // The route's `runner.run` action let the request in: its token is a runner's (or an admin's, which holds no lease).
      authorize: (request) => request.actor!.id,
      onRefused: (refusal) =>
        auditLateResult(composition.service, {
          runnerName: refusal.runnerName,
          executionId: refusal.executionId,
          what: `${refusal.operation} ${refusal.key}`,
          reason: refusal.reason,
        }),
    });
  },
};
