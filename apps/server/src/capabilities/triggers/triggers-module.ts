import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { composeTriggers, type ServerTriggers } from './compose-triggers.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { registerTriggerRoutes } from './trigger-routes.ts';

/**
 * Run templates and what starts runs from them (`templates:` and `triggers:`): GitHub deliveries and
 * Standard Webhooks, each delivery claimed once in `triggers.db` of the data directory, or on
 * PostgreSQL in a table shared by the replicas (opened only when a trigger is configured).
 */
export const triggersModule: ServerModule<EngineModuleContext, 'triggers', ServerTriggers> = {
  name: 'triggers',
  async start({ loaded, database, service }) {
    const seenDeliveries: () => SeenDeliveries = database
      ? await import('./store/seen-deliveries-postgres.ts').then(
          ({ PostgresSeenDeliveries }) =>
            () =>
              new PostgresSeenDeliveries(database),
        )
      : await import('./store/seen-deliveries-sqlite.ts').then(
          ({ SqliteSeenDeliveries }) =>
            () =>
              new SqliteSeenDeliveries(loaded.paths.triggers),
        );
    return composeTriggers(loaded, service, { seenDeliveries });
  },
  close: (started) => started.close(),
  routes: registerTriggerRoutes,
};
