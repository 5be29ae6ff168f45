import { dirname } from 'node:path';
import type { EngineService } from '@cairn/engine';
import { readConfiguredSecret } from '../../config/configured-secret.ts';
import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { GithubTrigger } from './github-trigger.ts';
import { forgePermissions, type RepositoryPermissions } from './repository-permissions.ts';
import { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { WebhookTriggers } from './webhook-trigger.ts';

/** The server's run templates and what starts runs from them (`templates:` and `triggers:` in the config). */
export interface ServerTriggers {
  readonly templates: RunTemplates;
  /** Set when `triggers.github` is configured. */
  readonly github?: GithubTrigger;
  /** Set when `triggers.webhooks` names any. */
  readonly webhooks?: WebhookTriggers;
  close(): void;
}

/**
 * Reads the templates (a bad one refuses the start, naming it) and, when configured, builds the
 * GitHub trigger (its permission checks by `@cairn/github-forge` against `apiUrl`, or `permissions` for an embedder with a
 * forge of its own) and the Standard Webhooks triggers, both claiming deliveries in the store
 * `seenDeliveries` opens (chosen with the server's other stores: `triggers.db` of the data
 * directory, or on PostgreSQL a table shared by the replicas), only when a trigger is configured.
 */
export function composeTriggers(
  loaded: LoadedServerConfig,
  service: EngineService,
  options: { readonly seenDeliveries: () => SeenDeliveries; readonly permissions?: RepositoryPermissions },
): ServerTriggers {
  const templates = RunTemplates.load(loaded.config.templates, dirname(loaded.file));
  const { github, webhooks } = loaded.config.triggers;
  if (github === undefined && Object.keys(webhooks).length === 0) return { templates, close: () => undefined };
  const secret = (name: string, option: string) => readConfiguredSecret((secretName) => service.modelCalls.revealSecret(secretName), name, option);
  const seen = options.seenDeliveries();
  const webhookTriggers = Object.keys(webhooks).length === 0 ? undefined : new WebhookTriggers({ webhooks, templates, seen, service, secret });
  const composed = { templates, ...(webhookTriggers ? { webhooks: webhookTriggers } : {}), close: () => seen.close() };
  if (github === undefined) return composed;
  const permissions =
    options.permissions ?? forgePermissions({ apiUrl: github.apiUrl, token: () => secret(github.tokenSecret, 'config.triggers.github.tokenSecret') });
  const trigger = new GithubTrigger({
    config: github,
    templates,
    seen,
    permissions,
    service,
    secret: (name) => secret(name, 'config.triggers.github.secret'),
  });
  return { ...composed, github: trigger };
}
