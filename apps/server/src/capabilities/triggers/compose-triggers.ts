import { dirname } from 'node:path';
import type { Logger, StorageProviderV1 } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { readConfiguredSecret } from '../../config/configured-secret.ts';
import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { DeliveredTips } from '../delivery/delivered-tips.ts';
import type { ServerForges } from '../delivery/server-forges.ts';
import { GithubTrigger } from './github-trigger.ts';
import { composeLinearAndSlack } from './linear-slack-composition.ts';
import type { LinearSlackReplies } from './linear-slack-replies.ts';
import type { LinearTrigger } from './linear-trigger.ts';
import { forgePermissions, type RepositoryPermissions } from './repository-permissions.ts';
import { FollowUpReplies } from './review-loop/follow-up-replies.ts';
import { ReviewLoop, type ReviewForge } from './review-loop/review-loop.ts';
import type { ReviewLoopStore } from './review-loop/review-loop-store.ts';
import { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import type { SlackTrigger } from './slack-trigger.ts';
import { WebhookTriggers } from './webhook-trigger.ts';

/** The server's run templates and what starts runs from them (`templates:` and `triggers:` in the config). */
export interface ServerTriggers {
  readonly templates: RunTemplates;
  /** Set when `triggers.github` is configured. */
  readonly github?: GithubTrigger;
  /** Set when `triggers.webhooks` names any. */
  readonly webhooks?: WebhookTriggers;
  /** Set when `triggers.github.reviewLoop` is configured: the replies to follow-ups, to run while this replica runs the engine. */
  readonly replies?: FollowUpReplies;
  /** Set when `triggers.linear` is configured. */
  readonly linear?: LinearTrigger;
  /** Set when `triggers.slack` is configured. */
  readonly slack?: SlackTrigger;
  /** Set when `triggers.linear` or `triggers.slack` is: the replies to their runs, to run while this replica runs the engine. */
  readonly sourceReplies?: LinearSlackReplies;
  close(): void;
}

/**
 * Reads the templates (a bad one refuses the start, naming it) and, when configured, builds the
 * GitHub trigger (its permission checks by `@cairn/github-forge` against `apiUrl`, or `permissions` for an embedder with a
 * forge of its own) and the Standard Webhooks triggers, both claiming deliveries in the store
 * `seenDeliveries` opens (chosen with the server's other stores: `triggers.db` of the data
 * directory, or on PostgreSQL a table shared by the replicas), only when a trigger is configured.
 * With `triggers.github.reviewLoop`, the review loop (ADR 0052) on the forge it names, its records in
 * the store `reviewLoopStore` opens beside them.
 */
export function composeTriggers(
  loaded: LoadedServerConfig,
  service: EngineService,
  options: {
    readonly seenDeliveries: () => SeenDeliveries;
    readonly reviewLoopStore?: () => ReviewLoopStore;
    readonly permissions?: RepositoryPermissions;
    /** The forges of `forges:` and the storage their deliveries recorded tips in: the review loop's. */
    readonly forges?: ServerForges;
    readonly storage?: StorageProviderV1;
    readonly logger?: Logger;
  },
): ServerTriggers {
  const templates = RunTemplates.load(loaded.config.templates, dirname(loaded.file));
  const { github, webhooks, linear, slack } = loaded.config.triggers;
  if (github === undefined && Object.keys(webhooks).length === 0 && linear === undefined && slack === undefined) return { templates, close: () => undefined };
  const secret = (name: string, option: string) => readConfiguredSecret((secretName) => service.modelCalls.revealSecret(secretName), name, option);
  const seen = options.seenDeliveries();
  const webhookTriggers = Object.keys(webhooks).length === 0 ? undefined : new WebhookTriggers({ webhooks, templates, seen, service, secret });
  const sources = composeLinearAndSlack(loaded, service, { templates, seen, secret, ...(options.logger ? { logger: options.logger } : {}) });
  const composed = {
    templates,
    ...(webhookTriggers ? { webhooks: webhookTriggers } : {}),
    ...(sources.linear ? { linear: sources.linear } : {}),
    ...(sources.slack ? { slack: sources.slack } : {}),
    ...(sources.replies ? { sourceReplies: sources.replies } : {}),
    close: () => seen.close(),
  };
  if (github === undefined) return composed;
  const permissions =
    options.permissions ?? forgePermissions({ apiUrl: github.apiUrl, token: () => secret(github.tokenSecret, 'config.triggers.github.tokenSecret') });
  const loop = github.reviewLoop === undefined ? undefined : composeReviewLoop(loaded, service, { ...options, templates, seen, permissions });
  const trigger = new GithubTrigger({
    config: github,
    templates,
    seen,
    permissions,
    service,
    secret: (name) => secret(name, 'config.triggers.github.secret'),
    ...(loop ? { reviewLoop: loop.loop } : {}),
  });
  return {
    ...composed,
    github: trigger,
    ...(loop ? { replies: loop.replies } : {}),
    close: () => {
      loop?.store.close();
      seen.close();
    },
  };
}

/** The review loop of `triggers.github.reviewLoop`, its forge and template checked now: a bad one refuses the start, naming the option. */
function composeReviewLoop(
  loaded: LoadedServerConfig,
  service: EngineService,
  options: {
    readonly reviewLoopStore?: () => ReviewLoopStore;
    readonly forges?: ServerForges;
    readonly storage?: StorageProviderV1;
    readonly logger?: Logger;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly permissions: RepositoryPermissions;
  },
): { loop: ReviewLoop; replies: FollowUpReplies; store: ReviewLoopStore } {
  const config = loaded.config.triggers.github!.reviewLoop!;
  const where = 'config.triggers.github.reviewLoop';
  const forgeConfig = Object.hasOwn(loaded.config.forges, config.forge) ? loaded.config.forges[config.forge] : undefined;
  if (forgeConfig?.kind !== 'github')
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}.forge: ${JSON.stringify(config.forge)} is ${forgeConfig === undefined ? 'not a forge of forges:' : `a ${forgeConfig.kind} forge`}; the review loop answers pull requests on a GitHub forge (forges: has ${Object.keys(loaded.config.forges).join(', ') || 'none'}).`,
      { path: `${where}.forge`, action: `Name a forge of forges: whose kind is github, the one the review loop's template delivers to.` },
    );
  if (!options.templates.has(config.template))
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}.template: ${JSON.stringify(config.template)} is not a template of templates: (${
        options.templates
          .list()
          .map((template) => template.name)
          .join(', ') || 'none'
      }).`,
      { path: `${where}.template`, action: 'Name a template of templates:, or add one there for the follow-up runs.' },
    );
  if (options.forges === undefined || options.storage === undefined || options.reviewLoopStore === undefined)
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `${where}: the review loop needs the server's forges and their delivery records, which this composition was not given.`,
      {
        path: where,
      },
    );
  const forges = options.forges;
  const forge = async (): Promise<ReviewForge> => {
    const built = (await forges.forge(config.forge)) as Partial<ReviewForge>;
    if (typeof built.addReaction !== 'function' || typeof built.readReview !== 'function')
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${where}.forge: the forge ${config.forge} cannot read reviews or add reactions: it must be of kind github.`,
        {
          path: `${where}.forge`,
        },
      );
    return built as ReviewForge;
  };
  const store = options.reviewLoopStore();
  const loop = new ReviewLoop({
    config,
    repository: forgeConfig.repository,
    forge,
    tips: new DeliveredTips(options.storage),
    templates: options.templates,
    seen: options.seen,
    permissions: options.permissions,
    service,
    store,
  });
  const publicUrl = loaded.config.server.publicUrl;
  const replies = new FollowUpReplies({
    store,
    service,
    storage: options.storage,
    forge,
    ...(publicUrl === undefined ? {} : { publicUrl }),
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return { loop, replies, store };
}
