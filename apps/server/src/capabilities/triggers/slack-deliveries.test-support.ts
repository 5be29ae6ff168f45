import { slackSignature } from './slack-signature.ts';

// Slack's requests as its docs show them: a slash command ("Implementing slash commands": the
// form fields Slack posts to the Request URL) and Events API callbacks ("Events API": the
// url_verification challenge, and an event_callback wrapping an app_mention).
export const slackChannel = 'C2147483705';
export const slackUser = 'U2147483697';

/** A slash command typed by `slackUser` in `slackChannel`: `command text`. */
export function slashCommand(command: string, text: string, options: { readonly triggerId?: string } = {}): string {
  return new URLSearchParams({
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    team_id: 'T0001',
    team_domain: 'example',
    enterprise_id: 'E0001',
    enterprise_name: 'Globular Construct Inc',
    channel_id: slackChannel,
    channel_name: 'test',
    user_id: slackUser,
    user_name: 'Steve',
    command,
    text,
    api_app_id: 'A123456',
    is_enterprise_install: 'false',
    response_url: 'https://hooks.slack.com/commands/1234/5678',
    trigger_id: options.triggerId ?? `13345224609.738474920.${crypto.randomUUID().replaceAll('-', '')}`,
  }).toString();
}

/** Slack's check of a new Request URL: it must answer the challenge. */
export const urlVerification = {
  token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl',
  challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
  type: 'url_verification',
};

/** An app_mention: `slackUser` wrote `<@U0LAN0Z89> text` in `slackChannel`. */
export function appMention(text: string, options: { readonly eventId?: string; readonly threadTs?: string } = {}) {
  return {
    token: 'ZZZZZZWSxiZZZ2yIvs3peJ',
    team_id: 'T061EG9R6',
    api_app_id: 'A0MDYCDME',
    event: {
      type: 'app_mention',
      user: slackUser,
      text: `<@U0LAN0Z89> ${text}`,
      ts: '1515449522.000016',
      channel: slackChannel,
      event_ts: '1515449522.000016',
      ...(options.threadTs === undefined ? {} : { thread_ts: options.threadTs }),
    },
    type: 'event_callback',
    event_id: options.eventId ?? `Ev${crypto.randomUUID().replaceAll('-', '').slice(0, 10).toUpperCase()}`,
    event_time: 1515449522,
    authed_users: ['U0LAN0Z89'],
  };
}

/** The request Slack sends with `body`: X-Slack-Request-Timestamp (now, or `timestamp`) and X-Slack-Signature over both. */
export function slackRequest(
  body: string,
  options: { readonly secret: string; readonly json?: boolean; readonly timestamp?: number; readonly unsigned?: boolean; readonly retry?: number },
) {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1_000));
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': options.json ? 'application/json' : 'application/x-www-form-urlencoded',
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      'x-slack-request-timestamp': timestamp,
      ...(options.retry === undefined ? {} : { 'x-slack-retry-num': String(options.retry), 'x-slack-retry-reason': 'http_timeout' }),
      ...(options.unsigned ? {} : { 'x-slack-signature': slackSignature(options.secret, timestamp, Buffer.from(body)) }),
    },
  } satisfies RequestInit;
}
