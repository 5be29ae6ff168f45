import type { AuditActor } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import type { RunTemplates } from './run-templates.ts';
import type { SeenDeliveries } from './seen-deliveries.ts';
import { slackSignatureProblem, type SlackSignatureHeaders } from './slack-signature.ts';
import type { SlackTriggerConfig } from './slack-trigger-config-schema.ts';
import { auditingRefusals, submitTriggeredRun } from './triggered-run.ts';
import { UnverifiedDenials } from './unverified-denials.ts';

/**
 * What a Slack request came to, in the shape Slack reads back: `challenge` for its url_verification;
 * for a slash command, `response_type` and `text` (the message the person sees at once, only to them).
 */
export interface SlackRequestResult {
  readonly duplicate: boolean;
  readonly runId?: string;
  readonly template?: string;
  readonly created?: boolean;
  readonly ignored?: string;
  readonly challenge?: string;
  readonly response_type?: 'ephemeral';
  readonly text?: string;
}

/** Who every run a Slack request starts is submitted as (the Slack user is in the run's labels): the replies find its runs by it. */
export const slackActor: AuditActor = { kind: 'system', id: 'slack', via: 'http' };
const unverifiedSender: AuditActor = { kind: 'system', id: 'unverified-slack-request', via: 'http' };
const triggerEntity = { kind: 'server', id: 'triggers/slack' } as const;
const requestedAction = 'triggers.slack';
/** Slack's ids (channels, users, teams): capitals and digits. */
const slackId = /^[A-Z0-9]{1,40}$/;

/** A request to run: the template, what was asked, where, by whom, and the key that claims it once. */
interface SlackAsk {
  readonly template: string;
  readonly text: string;
  readonly channel: string;
  readonly user: string;
  /** The message a mention's reply threads under; none for a command (its reply goes to the channel). */
  readonly thread?: string;
  readonly key: string;
}

/**
 * Slack requests (`triggers.slack`) into runs. In order: the signature (`X-Slack-Signature`, `v0=`
 * and the hex HMAC-SHA256 of `v0:timestamp:body` with the signing secret, in constant time) and its
 * timestamp within the tolerance — either refused and audited (at most 10 a minute); then the
 * request: a `url_verification` challenge is answered; a slash command of `commands` (form-encoded)
 * or an `app_mention` event (JSON) when `mention` names a template is claimed once by its
 * `trigger_id` / `event_id` in the durable store the other triggers use (Slack retries an event it
 * got no answer to in 3 s: a retry answers `duplicate`), then runs the template with the text after
 * the command or mention (`slack.text`), the channel and the user. The answer is immediate — the run
 * goes on in the background — and its end is posted to the channel (`LinearSlackReplies`).
 */
export class SlackTrigger {
  readonly #config: SlackTriggerConfig;
  readonly #templates: RunTemplates;
  readonly #seen: SeenDeliveries;
  readonly #service: EngineService;
  readonly #secret: (name: string) => Promise<string>;
  readonly #now: () => number;
  readonly #unverified = new UnverifiedDenials((reason) => this.#deny(unverifiedSender, reason));

  constructor(options: {
    readonly config: SlackTriggerConfig;
    readonly templates: RunTemplates;
    readonly seen: SeenDeliveries;
    readonly service: EngineService;
    /** A server secret's value (the app's signing secret). */
    readonly secret: (name: string) => Promise<string>;
    readonly now?: () => number;
  }) {
    this.#config = options.config;
    this.#templates = options.templates;
    this.#seen = options.seen;
    this.#service = options.service;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
  }

  async handle(body: Uint8Array, contentType: 'form' | 'json', headers: SlackSignatureHeaders): Promise<SlackRequestResult> {
    const problem = slackSignatureProblem(await this.#secret(this.#config.signingSecret), headers, body, this.#config.toleranceSeconds, this.#now());
    if (problem !== undefined) {
      await this.#unverified.deny(problem);
      throw new CairnError('CAIRN_UNAUTHENTICATED', `Refused: ${problem}.`, {
        path: problem.startsWith('X-Slack-Request-Timestamp') ? 'x-slack-request-timestamp' : 'x-slack-signature',
        action: `Set the server secret ${this.#config.signingSecret} to the app's Signing Secret (Basic Information → App Credentials), and check this server's clock: a request must arrive within ${this.#config.toleranceSeconds} s of being sent.`,
      });
    }
    const text = Buffer.from(body).toString('utf8');
    if (contentType === 'form') {
      const ask = this.#commandOf(new URLSearchParams(text));
      if (typeof ask === 'string') return { duplicate: false, ignored: ask, response_type: 'ephemeral', text: ask };
      const result = await this.#run(ask);
      return {
        ...result,
        response_type: 'ephemeral',
        text:
          result.runId === undefined
            ? 'This command was handled already.'
            : `Started run ${result.runId} (template ${result.template}); its end will be posted in this channel.`,
      };
    }
    let payload: SlackEventsPayload;
    try {
      payload = JSON.parse(text) as SlackEventsPayload;
    } catch {
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The Slack request is not JSON; Events API requests are.', { path: 'body' });
    }
    if (payload?.type === 'url_verification') {
      if (typeof payload.challenge !== 'string' || payload.challenge.length > 200)
        throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The url_verification request has no challenge (a string) to answer.', { path: 'body.challenge' });
      return { duplicate: false, challenge: payload.challenge };
    }
    const ask = this.#mentionOf(payload);
    return typeof ask === 'string' ? { duplicate: false, ignored: ask } : this.#run(ask);
  }

  async #run(ask: SlackAsk): Promise<SlackRequestResult> {
    const result = await this.#seen.handleOnce(ask.key, () =>
      auditingRefusals(
        (reason) => this.#deny(slackActor, `template ${ask.template}: ${reason}`),
        async () => {
          const declared = new Set(
            this.#templates
              .list()
              .find((template) => template.name === ask.template)
              ?.parameters.map((parameter) => parameter.name),
          );
          const values: Record<string, string> = { 'slack.text': ask.text, 'slack.channel': ask.channel, 'slack.user': ask.user };
          const submitted = await submitTriggeredRun(this.#templates, this.#service, {
            template: ask.template,
            parameters: Object.fromEntries(Object.entries(values).filter(([name]) => declared.has(name))),
            actor: slackActor,
            idempotencyKey: ask.key,
            labels: {
              trigger: 'slack',
              'slack.channel': ask.channel,
              'slack.user': ask.user,
              ...(ask.thread === undefined ? {} : { 'slack.thread': ask.thread }),
            },
          });
          return { duplicate: false, runId: submitted.runId, template: ask.template, created: submitted.created };
        },
      ),
    );
    return result ?? { duplicate: true };
  }

  /** The run a slash command asks for, or why it asks for none. */
  #commandOf(form: URLSearchParams): SlackAsk | string {
    const command = form.get('command');
    if (command === null) return 'the request is not a slash command (it has no command field); interactivity is not handled here';
    const template = Object.hasOwn(this.#config.commands, command) ? this.#config.commands[command] : undefined;
    if (template === undefined) return `the command ${command.slice(0, 40)} starts no run (triggers.slack.commands names those that do)`;
    const channel = slackIdField(form.get('channel_id'), 'channel_id');
    const user = slackIdField(form.get('user_id'), 'user_id');
    const triggerId = form.get('trigger_id');
    if (triggerId === null || !/^[\x21-\x7e]{1,200}$/.test(triggerId))
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        'The slash command has no trigger_id, which every command Slack sends carries: it is what makes a retry run nothing twice.',
        {
          path: 'body.trigger_id',
        },
      );
    return { template, text: form.get('text') ?? '', channel, user, key: `slack-command:${triggerId}` };
  }

  /** The run an Events API callback asks for (an `app_mention` when `mention` is set), or why it asks for none. */
  #mentionOf(payload: SlackEventsPayload): SlackAsk | string {
    if (payload?.type !== 'event_callback') return `the ${String(payload?.type)} request starts no run (only event_callback does)`;
    const event = payload.event;
    if (event?.type !== 'app_mention') return `the ${String(event?.type)} event starts no run (only app_mention does)`;
    if (this.#config.mention === undefined) return 'mentions start no run: triggers.slack.mention names no template';
    if (typeof payload.event_id !== 'string' || !/^[A-Za-z0-9]{1,100}$/.test(payload.event_id))
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        'The event callback has no event_id, which every one Slack sends carries: it is what makes a retry run nothing twice.',
        {
          path: 'body.event_id',
        },
      );
    if (typeof event.ts !== 'string')
      throw new CairnError('CAIRN_PAYLOAD_INVALID', 'The app_mention event has no ts (the message it is in).', { path: 'body.event.ts' });
    // The mention itself (`<@U0LAN0Z89>`, leading) is not part of what was asked.
    const text = typeof event.text === 'string' ? event.text.replace(/^(\s*<@[A-Z0-9]+(\|[^>]*)?>)+\s*/, '') : '';
    return {
      template: this.#config.mention,
      text,
      channel: slackIdField(event.channel, 'event.channel'),
      user: slackIdField(event.user, 'event.user'),
      thread: typeof event.thread_ts === 'string' ? event.thread_ts : event.ts,
      key: `slack-event:${payload.event_id}`,
    };
  }

  async #deny(actor: AuditActor, reason: string): Promise<void> {
    await this.#service.hostAudit.accessDenied({ actor, entity: triggerEntity, requestedAction, reason });
  }
}

/** The fields of Slack's Events API payloads (url_verification, event_callback with app_mention) the trigger reads. */
interface SlackEventsPayload {
  readonly type?: unknown;
  readonly challenge?: unknown;
  readonly event_id?: unknown;
  readonly event?: {
    readonly type?: unknown;
    readonly text?: unknown;
    readonly user?: unknown;
    readonly channel?: unknown;
    readonly ts?: unknown;
    readonly thread_ts?: unknown;
  };
}

function slackIdField(value: unknown, field: string): string {
  if (typeof value === 'string' && slackId.test(value)) return value;
  throw new CairnError(
    'CAIRN_PAYLOAD_INVALID',
    `The Slack request has no ${field} (a Slack id such as C2147483705), which Slack sends with every one of its kind.`,
    {
      path: `body.${field}`,
    },
  );
}
