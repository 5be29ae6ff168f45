// A stand-in for Slack's Web API chat.postMessage (https://slack.com/api/chat.postMessage) on
// loopback, for tests: each request is checked against the operation as Slack's published OpenAPI
// description gives it (slack-api-specs, vendored beside this file) — a content type it consumes, no
// argument it does not declare, the required channel, booleans as booleans, the token — and refused
// as Slack refuses (HTTP 200, ok: false and an error of the description's list); every answer is
// itself validated against the description's response schemas before it is sent.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';

const description = JSON.parse(readFileSync(new URL('./vendored/slack-web-api-chat-post-message.json', import.meta.url), 'utf8')) as {
  paths: Record<string, { post: { consumes: string[]; parameters: { in: string; name: string; required?: boolean; type: string }[] } }>;
};
const operation = description.paths['/chat.postMessage']!.post;
// The description's only format is uri: checked as a URL parses.
const ajv = new Ajv({ strict: false, allErrors: true, formats: { uri: (value: string) => URL.canParse(value) } });
ajv.addSchema(description, 'slack');
const success = ajv.getSchema('slack#/paths/~1chat.postMessage/post/responses/200/schema')!;
const failure = ajv.getSchema('slack#/paths/~1chat.postMessage/post/responses/default/schema')!;

export interface SlackMessage {
  readonly channel: string;
  readonly text: string;
  readonly thread_ts?: string;
  readonly ts: string;
}

export interface SlackApiStandIn {
  /** The Web API root: the value of triggers.slack.apiUrl. */
  readonly url: string;
  readonly messages: SlackMessage[];
  /** The requests refused: Slack's error, and what in the request it is about. */
  readonly refused: { readonly error: string; readonly detail: string }[];
  close(): Promise<void>;
}

/** Starts the stand-in: `botToken` is the only token it takes; `channels` are the channels the bot is in. */
export async function startSlackApi(options: { readonly botToken: string; readonly channels: readonly string[] }): Promise<SlackApiStandIn> {
  const messages: SlackMessage[] = [];
  const refused: { error: string; detail: string }[] = [];
  const server = createServer((request, response) => {
    void answer(request).then((body) => {
      const schema = body.ok === true ? success : failure;
      if (!schema(body)) {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`the stand-in's answer breaks Slack's description: ${ajv.errorsText(schema.errors)}`);
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
    });
  });

  async function answer(request: IncomingMessage): Promise<Record<string, unknown>> {
    const refuse = (error: string, detail: string) => {
      refused.push({ error, detail });
      return { ok: false, error };
    };
    if (request.method !== 'POST' || request.url !== '/api/chat.postMessage') return refuse('invalid_post_type', `${request.method} ${request.url}`);
    const contentType = request.headers['content-type']?.split(';', 1)[0]?.trim() ?? '';
    if (!operation.consumes.includes(contentType)) return refuse('invalid_post_type', `content-type ${contentType || 'none'}`);
    // The description's `token` parameter: Slack takes it as a Bearer credential in Authorization.
    if (request.headers.authorization !== `Bearer ${options.botToken}`) return refuse('invalid_auth', 'the token');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let fields: Record<string, unknown>;
    try {
      fields = contentType === 'application/json' ? (JSON.parse(text) as Record<string, unknown>) : Object.fromEntries(new URLSearchParams(text));
    } catch {
      return refuse('invalid_form_data', 'the body');
    }
    const declared = new Map(operation.parameters.filter((parameter) => parameter.in === 'formData').map((parameter) => [parameter.name, parameter]));
    for (const [name, value] of Object.entries(fields)) {
      const parameter = declared.get(name);
      if (parameter === undefined) return refuse('invalid_arg_name', name);
      const ok = parameter.type === 'boolean' ? ['true', 'false', '1', '0', true, false].includes(value as string) : typeof value === 'string';
      if (!ok) return refuse('invalid_form_data', `${name} is not a ${parameter.type}`);
    }
    for (const parameter of declared.values())
      if (parameter.required && fields[parameter.name] === undefined) return refuse('channel_not_found', `${parameter.name} missing`);
    const channel = fields.channel as string;
    if (!options.channels.includes(channel)) return refuse('not_in_channel', channel);
    if (fields.text === undefined && fields.blocks === undefined && fields.attachments === undefined) return refuse('no_text', 'text');
    const ts = `${Math.floor(Date.now() / 1_000)}.${String(messages.length + 1).padStart(6, '0')}`;
    const message = { channel, text: String(fields.text ?? ''), ts, ...(typeof fields.thread_ts === 'string' ? { thread_ts: fields.thread_ts } : {}) };
    messages.push(message);
    return {
      ok: true,
      channel,
      ts,
      message: {
        type: 'message',
        subtype: 'bot_message',
        text: message.text,
        ts,
        bot_id: 'B0CAIRN01',
        username: 'cairn',
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      },
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`,
    messages,
    refused,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
