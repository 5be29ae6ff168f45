import type { Logger } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { LinearSlackReplies } from './linear-slack-replies.ts';
import { LinearTrigger } from './linear-trigger.ts';
import type { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { SlackTrigger } from './slack-trigger.ts';

/** The Linear and Slack triggers of the config, and the replies to their runs (to run while this replica runs the engine). */
export interface LinearAndSlack {
  readonly linear?: LinearTrigger;
  readonly slack?: SlackTrigger;
  readonly replies?: LinearSlackReplies;
}

/**
 * Builds `triggers.linear` and `triggers.slack` when configured, their deliveries claimed in `seen`
 * (the store the other triggers claim theirs in) and their secrets read through `secret` (server
 * secrets, never the config). The templates they name were checked when the config was loaded
 * (`triggersNameTemplates`).
 */
export function composeLinearAndSlack(
  loaded: LoadedServerConfig,
  service: EngineService,
  options: {
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly secret: (name: string, option: string) => Promise<string>;
    readonly logger?: Logger;
  },
): LinearAndSlack {
  const { linear, slack } = loaded.config.triggers;
  if (linear === undefined && slack === undefined) return {};
  const common = { templates: options.templates, seen: options.seen, service };
  const publicUrl = loaded.config.server.publicUrl;
  return {
    ...(linear === undefined
      ? {}
      : { linear: new LinearTrigger({ ...common, config: linear, secret: (name) => options.secret(name, 'config.triggers.linear.secret') }) }),
    ...(slack === undefined
      ? {}
      : { slack: new SlackTrigger({ ...common, config: slack, secret: (name) => options.secret(name, 'config.triggers.slack.signingSecret') }) }),
    replies: new LinearSlackReplies({
      service,
      seen: options.seen,
      destinations: {
        ...(linear === undefined
          ? {}
          : { linear: { apiUrl: linear.apiUrl, token: () => options.secret(linear.tokenSecret, 'config.triggers.linear.tokenSecret') } }),
        ...(slack === undefined
          ? {}
          : { slack: { apiUrl: slack.apiUrl, token: () => options.secret(slack.tokenSecret, 'config.triggers.slack.tokenSecret') } }),
      },
      ...(publicUrl === undefined ? {} : { publicUrl }),
      ...(options.logger ? { logger: options.logger } : {}),
    }),
  };
}
