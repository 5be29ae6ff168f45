import type { ModuleContext, ServerModule } from '../../composition/server-module.ts';
import type { RunningGateway } from './start-gateway.ts';

/**
 * The model gateway (ADR 0033), when `gateway.enabled`: it listens before the engine starts, since
 * the engine issues its URL to each agent attempt. On PostgreSQL its quotas are counted in the
 * server's tables, shared by the replicas; otherwise in this process.
 */
export const gatewayModule: ServerModule<ModuleContext, 'gateway', RunningGateway | undefined> = {
  name: 'gateway',
  async start({ loaded, storage, database, metrics, tracing, service, logger }) {
    const settings = loaded.config.gateway;
    if (!settings.enabled) return undefined;
    const [{ startGateway }, quotaLedger] = await Promise.all([
      import('./start-gateway.ts'),
      database &&
        import('./store/postgres-quota-ledger.ts').then(
          ({ PostgresQuotaLedger }) => new PostgresQuotaLedger(database, { leaseMs: settings.quotaLeaseMs, ...(logger ? { logger } : {}) }),
        ),
    ]);
    return startGateway(settings, {
      dataDirectory: loaded.paths.dataDirectory,
      storage,
      service,
      ...(quotaLedger ? { quotaLedger } : {}),
      observe: (call, attempt) => {
        metrics.observeModelCall(call);
        tracing?.modelCall(call, attempt);
      },
      ...(logger ? { logger } : {}),
    });
  },
  close: (started) => started?.close(),
};
