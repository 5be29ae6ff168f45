import type { Logger } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
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
 * secrets, never the config). Every template they name must be one of `templates:`: a bad one
 * refuses the start, naming the option.
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
  const named: [string, string][] = [
    ...Object.entries(linear?.labels ?? {}).map(([label, template]): [string, string] => [`config.triggers.linear.labels.${label}`, template]),
    ...Object.entries(linear?.assignees ?? {}).map(([user, template]): [string, string] => [`config.triggers.linear.assignees.${user}`, template]),
    ...Object.entries(slack?.commands ?? {}).map(([command, template]): [string, string] => [`config.triggers.slack.commands.${command}`, template]),
    ...(slack?.mention === undefined ? [] : [['config.triggers.slack.mention', slack.mention] as [string, string]]),
  ];
  for (const [path, template] of named)
    if (!options.templates.has(template))
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${path}: ${JSON.stringify(template)} is not a template of templates: (${
          options.templates
            .list()
            .map((known) => known.name)
            .join(', ') || 'none'
        }).`,
        { path, action: 'Name a template of templates:, or add one there.' },
      );
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
