import { z } from 'zod';
import { keysMatching } from './linear-trigger-config-schema.ts';
import { secretName } from './secret-name-schema.ts';

const templateName = z.string().min(1, 'must name a template of templates:, e.g. ask-cairn');

/**
 * `triggers.slack`: `POST /v1/triggers/slack` takes a Slack app's slash commands (its Request URL)
 * and Events API callbacks (`app_mention`; the `url_verification` challenge is answered). Each
 * request must carry `X-Slack-Signature` (`v0=` and the hex HMAC-SHA256 of
 * `v0:{X-Slack-Request-Timestamp}:{body}` with the app's signing secret) and a timestamp within
 * `toleranceSeconds`. A command of `commands`, or a mention when `mention` names a template, starts
 * a run; when it ends, `chat.postMessage` (with the bot token of `tokenSecret`) says how, in the
 * mention's thread or the command's channel.
 */
export const slackTriggerConfigSchema = z
  .strictObject({
    /** The server secret holding the app's signing secret (Basic Information → App Credentials). */
    signingSecret: secretName,
    /** The server secret holding the app's bot token (`xoxb-…`, scope `chat:write`): the run's end is posted with it. */
    tokenSecret: secretName,
    /** Slack's Web API root. */
    apiUrl: z.url({ protocol: /^https?$/, error: "must be the http(s) URL of Slack's Web API, e.g. https://slack.com/api" }).default('https://slack.com/api'),
    /** Each slash command (as created in the app, with its /) and the template it runs: `{ /cairn: ask-cairn }`. */
    commands: keysMatching(
      /^\/[a-z0-9_-]{1,31}$/,
      'must be a slash command as Slack names it: / and up to 31 lowercase letters, digits, - or _, e.g. /cairn',
    ).default({}),
    /** The template a mention of the app (`@cairn fix the flaky test`) runs; mentions start nothing when left out. */
    mention: templateName.optional(),
    /** How far `X-Slack-Request-Timestamp` may be from the server's clock, either side, in seconds (Slack advises 5 minutes). */
    toleranceSeconds: z.int().min(1).max(3_600).default(300),
  })
  .refine((slack) => Object.keys(slack.commands).length > 0 || slack.mention !== undefined, {
    message: 'must name a template for at least one slash command or for mentions, e.g. commands: { /cairn: ask-cairn }',
    path: ['commands'],
  });

export type SlackTriggerConfig = z.output<typeof slackTriggerConfigSchema>;
