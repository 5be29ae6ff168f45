import type { EngineModuleContext, ServerModule } from '../../composition/server-module.ts';
import { registerWebhookRoutes } from './webhook-routes.ts';
import type { WebhookDispatcher } from './webhook-dispatcher.ts';
import type { WebhookEndpoints } from './webhook-endpoints.ts';
import type { WebhookStore } from './webhook-store.ts';

/** The webhook endpoints and the dispatcher that sends them the engine's events. */
export interface ServerWebhooks {
  /** The endpoints (secrets encrypted with the server's cipher) and their deliveries. */
  readonly endpoints: WebhookEndpoints;
  /** Sends the events; started with the engine, and on PostgreSQL only on the replica running it, so one replica sends each delivery. */
  readonly dispatcher: Pick<WebhookDispatcher, 'start' | 'stop'>;
  readonly store: WebhookStore;
}

/**
 * Webhooks (Standard Webhooks): endpoints are kept in `webhooks.db` of the data directory, or on
 * PostgreSQL in the server's tables, shared by the replicas. The dispatcher reads the engine's
 * events, so the module starts after the engine and stops before it.
 */
export const webhooksModule: ServerModule<EngineModuleContext, 'webhooks', ServerWebhooks> = {
  name: 'webhooks',
  async start({ loaded, database, cipher, service, whileLeading, webhookTiming, logger }) {
    const [{ WebhookEndpoints }, { WebhookDispatcher }, store] = await Promise.all([
      import('./webhook-endpoints.ts'),
      import('./webhook-dispatcher.ts'),
      database
        ? import('./store/postgres-webhook-store.ts').then(({ PostgresWebhookStore }) => new PostgresWebhookStore(database))
        : import('./store/sqlite-webhook-store.ts').then(({ SqliteWebhookStore }) => new SqliteWebhookStore(loaded.paths.webhooks)),
    ]);
    // An endpoint added here wakes this process's dispatcher (declared below; told only once running).
    const endpoints = new WebhookEndpoints({ store, cipher, service, added: () => dispatcher.endpointAdded() });
    const dispatcher = new WebhookDispatcher({ store, endpoints, service, ...webhookTiming, ...(logger ? { logger } : {}) });
    return { endpoints, dispatcher: whileLeading(dispatcher), store };
  },
  async close({ dispatcher, store }) {
    await dispatcher.stop();
    await store.close();
  },
  routes: registerWebhookRoutes,
};
