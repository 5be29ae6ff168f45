import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { composeTriggers, type ServerTriggers } from './compose-triggers.ts';
import type { ReviewLoopStore } from './review-loop/review-loop-store.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { registerTriggerRoutes } from './trigger-routes.ts';

/**
 * Run templates and what starts runs from them (`templates:` and `triggers:`): GitHub deliveries and
 * Standard Webhooks, each delivery claimed once in `triggers.db` of the data directory, or on
 * PostgreSQL in a table shared by the replicas (opened only when a trigger is configured); and the
 * review loop's follow-ups (ADR 0052) in the same place, their replies posted by the replica that
 * runs the engine; and Linear and Slack requests, their runs' ends posted back by that replica too.
 */
export const triggersModule: ServerModule<EngineModuleContext, 'triggers', ServerTriggers & { readonly stopReplies: () => Promise<void> }> = {
  name: 'triggers',
  async start({ loaded, database, service, storage, delivery, whileLeading, logger }) {
    const [seenDeliveries, reviewLoopStore]: [() => SeenDeliveries, () => ReviewLoopStore] = database
      ? await Promise.all([
          import('./store/seen-deliveries-postgres.ts').then(
            ({ PostgresSeenDeliveries }) =>
              () =>
                new PostgresSeenDeliveries(database),
          ),
          import('./review-loop/store/review-loop-store-postgres.ts').then(
            ({ PostgresReviewLoopStore }) =>
              () =>
                new PostgresReviewLoopStore(database),
          ),
        ])
      : await Promise.all([
          import('./store/seen-deliveries-sqlite.ts').then(
            ({ SqliteSeenDeliveries }) =>
              () =>
                new SqliteSeenDeliveries(loaded.paths.triggers),
          ),
          import('./review-loop/store/review-loop-store-sqlite.ts').then(
            ({ SqliteReviewLoopStore }) =>
              () =>
                new SqliteReviewLoopStore(loaded.paths.triggers),
          ),
        ]);
    const triggers = composeTriggers(loaded, service, {
      seenDeliveries,
      reviewLoopStore,
      storage,
      ...(delivery ? { forges: delivery.forges } : {}),
      ...(logger ? { logger } : {}),
    });
    // Following the engine's run events only reads: started now, on the replica that runs the engine.
    const replies = [triggers.replies, triggers.sourceReplies].flatMap((task) => (task ? [whileLeading(task)] : []));
    for (const task of replies) task.start();
    return { ...triggers, stopReplies: async () => void (await Promise.all(replies.map((task) => task.stop()))) };
  },
  async close(started) {
    await started.stopReplies();
    started.close();
  },
  routes: registerTriggerRoutes,
};
