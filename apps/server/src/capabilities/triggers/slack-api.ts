import { CairnError } from '@cairn/protocol';

/**
 * Posts `text` (Slack mrkdwn) to `channel`, in the thread of `threadTs` when given, with Slack's Web
 * API `chat.postMessage` at `apiUrl` (form-encoded, the bot token as a Bearer credential). Returns
 * the message's `ts`. Slack answers HTTP 200 with `ok: false` and an `error` for refusals
 * (`not_in_channel`, `invalid_auth`, …): that, an HTTP error or no answer is
 * CAIRN_TRIGGER_REPLY_FAILED naming Slack's answer, never the token.
 */
export async function postSlackMessage(options: {
  readonly apiUrl: string;
  readonly token: string;
  readonly channel: string;
  readonly text: string;
  readonly threadTs?: string;
  readonly signal?: AbortSignal;
}): Promise<string> {
  const failed = (what: string, cause?: unknown) =>
    new CairnError('CAIRN_TRIGGER_REPLY_FAILED', `Slack did not take the message to channel ${options.channel}: ${what}.`, {
      path: 'config.triggers.slack.tokenSecret',
      ...(cause === undefined ? {} : { cause }),
    });
  const form = new URLSearchParams({ channel: options.channel, text: options.text, unfurl_links: 'false' });
  if (options.threadTs !== undefined) form.set('thread_ts', options.threadTs);
  let response: Response;
  try {
    response = await fetch(`${options.apiUrl.replace(/\/+$/, '')}/chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: `Bearer ${options.token}` },
      body: form.toString(),
      signal: options.signal ?? AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw failed(`${options.apiUrl} could not be reached (${(error as Error).message})`, error);
  }
  const text = await response.text();
  let answer: { ok?: boolean; error?: string; ts?: string };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw failed(`HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (!response.ok || answer.ok !== true || typeof answer.ts !== 'string')
    throw failed(`HTTP ${response.status}, ${answer.error === undefined ? JSON.stringify(answer).slice(0, 200) : `error ${answer.error}`}`);
  return answer.ts;
}
