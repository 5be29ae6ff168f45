import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';
import { anthropicError, anthropicEvents, anthropicMessage } from './scripted-models-anthropic.test-support.ts';
import { chatChunks, chatCompletion, chatError } from './scripted-models-chat.test-support.ts';
import { responsesError, responsesEvents, responsesObject } from './scripted-models-responses.test-support.ts';

/**
 * Model endpoints on loopback that answer from a script, for tests that run real agent CLIs (or
 * the gateway) without a provider: `POST /v1/messages` (Anthropic Messages), `POST
 * /v1/chat/completions` (OpenAI Chat Completions) and `POST /v1/responses` (OpenAI Responses), each
 * streamed (server-sent events) when the body says `stream: true` and plain JSON otherwise, in the
 * providers' own wire formats. Every request is recorded.
 */

/** The three model APIs the scripted endpoints speak. */
export type ScriptedApi = 'anthropic' | 'chat' | 'responses';

/**
 * Token figures of one answer. `inputTokens` counts the input neither read from nor written to a
 * prompt cache (Anthropic's `input_tokens`); the OpenAI APIs report the whole prompt, so their
 * `prompt_tokens` / `input_tokens` are `inputTokens + cacheReadTokens + cacheWriteTokens`.
 */
export interface ScriptedUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens?: number;
  readonly cacheWriteTokens?: number;
}

/**
 * A tool call the model makes. `input` is the JSON arguments; a string is sent as is, which is
 * what a Responses "custom" (freeform) tool such as Codex's `apply_patch` takes.
 */
export interface ScriptedToolCall {
  readonly name: string;
  readonly input: Readonly<Record<string, unknown>> | string;
}

/** When the bytes of an answer go out. */
export interface ScriptedPacing {
  /** Milliseconds before the status line and headers are sent. */
  readonly firstByteDelayMs?: number;
  /** Milliseconds between two events of a streamed answer. */
  readonly chunkDelayMs?: number;
  /**
   * Never finish: `before-response` sends nothing at all, `mid-stream` sends the headers and the
   * first event (or, unstreamed, only the headers) and then holds the connection open.
   */
  readonly stall?: 'before-response' | 'mid-stream';
  /** Send nothing until this settles (after `firstByteDelayMs`): a call the test holds while it looks around. */
  readonly heldUntil?: Promise<unknown>;
  /** A stream sends this many text deltas, then nothing more until `until` settles: an answer the test holds mid-way. */
  readonly holdAfterDeltas?: { readonly deltas: number; readonly until: Promise<unknown> };
}

/** A model answer: text, tool calls or both (text first), and what it cost. */
export interface ScriptedAnswer extends ScriptedPacing {
  readonly text?: string;
  /** How many deltas a stream sends the text in (3 by default). */
  readonly textPieces?: number;
  readonly toolCalls?: readonly ScriptedToolCall[];
  readonly usage: ScriptedUsage;
}

/** An HTTP error in the provider's error shape. */
export interface ScriptedFailure {
  readonly status: number;
  readonly message?: string;
  readonly firstByteDelayMs?: number;
  /**
   * Sent as `x-should-retry`, which the Anthropic and OpenAI SDKs (and so Claude Code) obey.
   * Without it a client retries 408, 409, 429 and 5xx by itself, and each retry takes the next
   * turn; Codex ignores the header (its provider's `request_max_retries` decides).
   */
  readonly retryable?: boolean;
}

export type ScriptedTurn = ScriptedAnswer | ScriptedFailure;

/** The turns each API answers, in order; an API without turns answers every model call with a 400. */
export interface ModelScript {
  readonly anthropic?: readonly ScriptedTurn[];
  readonly chat?: readonly ScriptedTurn[];
  readonly responses?: readonly ScriptedTurn[];
  /**
   * Which model calls are side calls (titles, summaries, quota checks) rather than turns of the
   * agent loop: answered with a short text and not taking a turn. By default a model call that
   * declares no tools; the agent CLIs' own loop always declares its tools.
   */
  readonly isSideCall?: (request: RecordedRequest) => boolean;
}

/** How a request was answered. */
export type RequestRole = 'turn' | 'side-call' | 'unscripted';

/** One request as the endpoints saw it. */
export interface RecordedRequest {
  /** The API of a model call; `null` for other paths. */
  readonly api: ScriptedApi | null;
  /**
   * `turn`: answered from the script; `side-call`: a model call the script does not own (see
   * {@link ModelScript.isSideCall}) or a known auxiliary path (`HEAD /api/hello`, `GET
   * /v1/models`, `POST /v1/messages/count_tokens`); `unscripted`: no turn was left, or an unknown
   * path (answered 400 / 404, so the test sees it fail), or a `CONNECT` from a client that was
   * given these endpoints as its HTTPS proxy (refused with a 403; `path` is the host and port).
   */
  readonly role: RequestRole;
  /** The index of the turn in its API's list when `role` is `turn`. */
  readonly turn: number | null;
  readonly method: string;
  /** The path without its query string. */
  readonly path: string;
  readonly query: string;
  readonly headers: IncomingHttpHeaders;
  /** The JSON body, or `null` when there was none or it was not JSON. */
  readonly body: Record<string, unknown> | null;
  readonly stream: boolean;
  readonly receivedAt: number;
}

export interface ScriptedModels {
  /** `ANTHROPIC_BASE_URL` (no `/v1`) and the OpenAI base URL (with `/v1`). */
  readonly baseUrls: { readonly anthropic: string; readonly openai: string };
  /** Every request so far, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** The HTTPS proxy URL to give a client so that any call it makes elsewhere is recorded and refused. */
  readonly proxyUrl: string;
  /** The requests answered from the script (of one API, when given). */
  turns(api?: ScriptedApi): RecordedRequest[];
  /** The side calls so far. */
  sideCalls(): RecordedRequest[];
  /** Stops listening and cuts open connections, stalled ones included. */
  close(): Promise<void>;
}

/** What an API module turns an answer into: the events of a stream, or one JSON body. */
export interface StreamFrame {
  /** The `event:` line; the Chat Completions API sends none. */
  readonly event?: string;
  /** The `data:` line: a JSON value, or the raw text (`[DONE]`). */
  readonly data: unknown;
}

/** What the answer builders know of the request. */
export interface AnswerContext {
  /** Numbers the ids of this answer (1 for the first request). */
  readonly sequence: number;
  readonly model: string;
  readonly body: Record<string, unknown>;
}

const modelPaths: Record<string, ScriptedApi> = {
  '/v1/messages': 'anthropic',
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'responses',
};

const sideCallText = 'scripted side call';

/** Starts the scripted endpoints on 127.0.0.1 (a free port). */
export async function startScriptedModels(script: ModelScript): Promise<ScriptedModels> {
  validateScript(script);
  const requests: RecordedRequest[] = [];
  const nextTurn: Record<ScriptedApi, number> = { anthropic: 0, chat: 0, responses: 0 };
  const isSideCall = script.isSideCall ?? declaresNoTools;

  const server = createServer((request, response) => {
    readBody(request).then(
      (raw) => {
        const url = new URL(request.url ?? '/', 'http://scripted');
        const body = parseJsonObject(raw);
        const sequence = requests.length + 1;
        const base = {
          method: request.method ?? 'GET',
          path: url.pathname,
          query: url.search,
          headers: request.headers,
          body,
          stream: body?.['stream'] === true,
          receivedAt: Date.now(),
        };
        const api = request.method === 'POST' ? modelPaths[url.pathname] : undefined;
        if (api === undefined) {
          const auxiliary = auxiliaryAnswer(base.method, url.pathname, body);
          requests.push({ ...base, api: null, role: auxiliary ? 'side-call' : 'unscripted', turn: null });
          const reply = auxiliary ?? {
            status: 404,
            body: { error: { type: 'not_found_error', message: `scripted-models: no route ${base.method} ${url.pathname}` } },
          };
          sendJson(response, reply.status, reply.body);
          return;
        }
        const context: AnswerContext = { sequence, model: typeof body?.['model'] === 'string' ? body['model'] : 'scripted-model', body: body ?? {} };
        const probe: RecordedRequest = { ...base, api, role: 'side-call', turn: null };
        if (isSideCall(probe)) {
          requests.push(probe);
          void answer(response, api, { text: sideCallText, usage: { inputTokens: 1, outputTokens: 1 } }, context, base.stream);
          return;
        }
        const turns = script[api] ?? [];
        const index = nextTurn[api];
        const turn = turns[index];
        if (turn === undefined) {
          requests.push({ ...probe, role: 'unscripted' });
          const message = `scripted-models: the script has no ${api} turn ${index + 1} (it has ${turns.length})`;
          void fail(response, api, { status: 400, message, retryable: false });
          return;
        }
        nextTurn[api] = index + 1;
        requests.push({ ...probe, role: 'turn', turn: index });
        void ('status' in turn ? fail(response, api, turn) : answer(response, api, turn, context, base.stream));
      },
      (error: unknown) => sendJson(response, 400, { error: { type: 'invalid_request_error', message: `scripted-models: unreadable body: ${String(error)}` } }),
    );
  });

  // A client given this server as its HTTPS proxy shows here any call it makes elsewhere.
  server.on('connect', (request: IncomingMessage, socket: Duplex) => {
    requests.push({
      api: null,
      role: 'unscripted',
      turn: null,
      method: 'CONNECT',
      path: request.url ?? '',
      query: '',
      headers: request.headers,
      body: null,
      stream: false,
      receivedAt: Date.now(),
    });
    // A client that gives up on the refused tunnel resets it; that is no error of the endpoints.
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    baseUrls: { anthropic: origin, openai: `${origin}/v1` },
    proxyUrl: origin,
    requests,
    turns: (api) => requests.filter((request) => request.role === 'turn' && (api === undefined || request.api === api)),
    sideCalls: () => requests.filter((request) => request.role === 'side-call'),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function validateScript(script: ModelScript): void {
  for (const api of ['anthropic', 'chat', 'responses'] as const) {
    for (const [index, turn] of (script[api] ?? []).entries()) {
      if ('status' in turn) continue;
      const where = `scripted-models: ${api} turn ${index + 1}`;
      if (turn.text === undefined && (turn.toolCalls ?? []).length === 0) throw new Error(`${where} needs text or tool calls`);
      if (api !== 'responses' && turn.toolCalls?.some((call) => typeof call.input === 'string')) {
        throw new Error(`${where}: a string tool input (a freeform tool) exists only in the Responses API`);
      }
    }
  }
}

function declaresNoTools(request: RecordedRequest): boolean {
  const tools = request.body?.['tools'];
  return !Array.isArray(tools) || tools.length === 0;
}

/** The auxiliary paths agent CLIs call besides the model (connectivity, model lists, token counts). */
function auxiliaryAnswer(method: string, path: string, body: Record<string, unknown> | null): { status: number; body: unknown } | undefined {
  if ((method === 'HEAD' || method === 'GET') && path === '/api/hello') return { status: 200, body: {} };
  if (method === 'GET' && path === '/v1/models') return { status: 200, body: { object: 'list', data: [], has_more: false, first_id: null, last_id: null } };
  if (method === 'POST' && path === '/v1/messages/count_tokens') {
    // Roughly four characters a token, as a stand-in for a tokenizer.
    return { status: 200, body: { input_tokens: Math.max(1, Math.ceil(JSON.stringify(body?.['messages'] ?? '').length / 4)) } };
  }
  return undefined;
}

async function answer(response: ServerResponse, api: ScriptedApi, turn: ScriptedAnswer, context: AnswerContext, stream: boolean): Promise<void> {
  if (turn.stall === 'before-response') return;
  await pause(turn.firstByteDelayMs);
  await turn.heldUntil;
  if (response.destroyed) return;
  if (!stream) {
    const body = api === 'anthropic' ? anthropicMessage(turn, context) : api === 'chat' ? chatCompletion(turn, context) : responsesObject(turn, context);
    response.writeHead(200, { 'content-type': 'application/json' });
    if (turn.stall === 'mid-stream') {
      response.flushHeaders();
      return;
    }
    response.end(JSON.stringify(body));
    return;
  }
  const frames =
    api === 'anthropic'
      ? anthropicEvents(turn, context)
      : api === 'chat'
        ? chatChunks(turn, context, includesUsage(context.body))
        : responsesEvents(turn, context);
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  response.flushHeaders();
  let deltas = 0;
  for (const [index, frame] of frames.entries()) {
    if (index > 0) await pause(turn.chunkDelayMs);
    if (turn.holdAfterDeltas !== undefined && deltas === turn.holdAfterDeltas.deltas) await turn.holdAfterDeltas.until;
    if (response.destroyed) return;
    response.write(sseBlock(frame));
    if (isTextDelta(frame)) deltas += 1;
    if (turn.stall === 'mid-stream') return;
  }
  response.end();
}

async function fail(response: ServerResponse, api: ScriptedApi, failure: ScriptedFailure): Promise<void> {
  await pause(failure.firstByteDelayMs);
  if (response.destroyed) return;
  const message = failure.message ?? `scripted failure ${failure.status}`;
  const body =
    api === 'anthropic'
      ? anthropicError(failure.status, message)
      : api === 'chat'
        ? chatError(failure.status, message)
        : responsesError(failure.status, message);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (failure.retryable !== undefined) headers['x-should-retry'] = String(failure.retryable);
  response.writeHead(failure.status, headers);
  response.end(JSON.stringify(body));
}

/** A frame carrying a piece of the answer's text, in any of the three APIs. */
function isTextDelta(frame: StreamFrame): boolean {
  if (frame.event === 'content_block_delta' || frame.event === 'response.output_text.delta') return true;
  const choices = typeof frame.data === 'object' && frame.data !== null ? (frame.data as Record<string, unknown>)['choices'] : undefined;
  const delta = Array.isArray(choices) ? (choices[0] as { delta?: { content?: unknown } } | undefined)?.delta : undefined;
  return frame.event === undefined && typeof delta?.content === 'string' && delta.content.length > 0;
}

function includesUsage(body: Record<string, unknown>): boolean {
  const options = body['stream_options'];
  return typeof options === 'object' && options !== null && (options as Record<string, unknown>)['include_usage'] === true;
}

function sseBlock(frame: StreamFrame): string {
  const data = typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data);
  return `${frame.event === undefined ? '' : `event: ${frame.event}\n`}data: ${data}\n\n`;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** On the global setTimeout, which vitest's fake clock replaces (not node:timers/promises'): a test can move the pacing itself. */
async function pause(milliseconds: number | undefined): Promise<void> {
  if (milliseconds !== undefined && milliseconds > 0) await new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** The request body as text, decoded when the client compressed it (Codex can send zstd). */
function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      try {
        resolve(decode(raw, request.headers['content-encoding']).toString('utf8'));
      } catch (error) {
        reject(error as Error);
      }
    });
    request.on('error', reject);
  });
}

function decode(raw: Buffer, encoding: string | undefined): Buffer {
  switch (encoding) {
    case 'gzip':
      return gunzipSync(raw);
    case 'br':
      return brotliDecompressSync(raw);
    case 'zstd':
      return zstdDecompressSync(raw);
    case 'deflate':
      return inflateSync(raw);
    default:
      return raw;
  }
}

function parseJsonObject(raw: string): Record<string, unknown> | null {
  if (raw === '') return null;
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Splits a text into at most `count` non-empty pieces, so a client has to join deltas. */
export function pieces(text: string, count = 3): string[] {
  if (text.length === 0) return [];
  const size = Math.ceil(text.length / count);
  const result: string[] = [];
  for (let start = 0; start < text.length; start += size) result.push(text.slice(start, start + size));
  return result;
}

/** The JSON text of a tool call's input (a string input is already the text). */
export function inputText(call: ScriptedToolCall): string {
  return typeof call.input === 'string' ? call.input : JSON.stringify(call.input);
}
