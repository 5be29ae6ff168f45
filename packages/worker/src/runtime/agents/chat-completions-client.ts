import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { FetchFunction } from '../../gateway/unix-socket-fetch.ts';

/** A function call the model asked for. */
export interface ChatToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

/** One message of a Chat Completions conversation, as sent back to the endpoint. */
export type ChatMessage =
  | { readonly role: 'system' | 'user'; readonly content: string }
  | { readonly role: 'assistant'; readonly content: string | null; readonly tool_calls?: readonly ChatToolCall[] }
  | { readonly role: 'tool'; readonly tool_call_id: string; readonly content: string };

export interface ChatCompletionRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly tools: readonly unknown[];
}

/** How a request ended: the assistant's message, a failure worth stopping for, or the run's abort. */
export type ChatCompletionOutcome =
  | { readonly kind: 'message'; readonly content: string | null; readonly toolCalls: readonly ChatToolCall[] }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'aborted' };

export interface ChatCompletionsEndpoint {
  /** `{baseUrl}/chat/completions`. */
  readonly url: URL;
  /** Sent as `Authorization: Bearer`; never written anywhere else. */
  readonly apiKey: string | undefined;
  readonly requestTimeoutMs: number;
  readonly maxRetries: number;
  /** The first retry's delay; each further retry doubles it (or waits what Retry-After asks, up to a minute). */
  readonly retryDelayMs: number;
  /** Told about each retry, to say so on stderr. */
  readonly onRetry: (message: string) => void;
  /** How requests are sent; the global fetch by default (the forwarder's Unix socket through the gateway). */
  readonly fetch?: FetchFunction;
}

// Only what the loop reads is checked; providers add fields of their own (usage, reasoning).
const responseSchema = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().optional(),
                function: z.object({
                  name: z.string(),
                  // Some servers send the arguments as an object rather than JSON text.
                  arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
                }),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1),
});

const maxRetryAfterMs = 60_000;

/**
 * Sends one Chat Completions request. 408, 429, 5xx, a connection failure and a request that
 * exceeded `requestTimeoutMs` are retried up to `maxRetries` times with a growing delay; any other
 * error status, or an answer that is not a completion, fails at once. The run's `signal` aborts the
 * request in flight and any wait between retries.
 */
export async function requestChatCompletion(
  endpoint: ChatCompletionsEndpoint,
  request: ChatCompletionRequest,
  signal: AbortSignal,
  turn: number,
): Promise<ChatCompletionOutcome> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (endpoint.apiKey !== undefined) headers['authorization'] = `Bearer ${endpoint.apiKey}`;
  const body = JSON.stringify(request);
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) return { kind: 'aborted' };
    const timeout = AbortSignal.timeout(endpoint.requestTimeoutMs);
    let problem: string;
    let retryAfterMs = 0;
    try {
      const response = await (endpoint.fetch ?? fetch)(endpoint.url, { method: 'POST', headers, body, signal: AbortSignal.any([signal, timeout]) });
      const text = await response.text();
      if (response.ok) return parseCompletion(text, turn);
      problem = `the endpoint answered ${response.status} ${response.statusText}${errorDetail(text)}`;
      if (!isRetryableStatus(response.status)) return { kind: 'failed', reason: problem };
      retryAfterMs = retryAfter(response.headers.get('retry-after'));
    } catch (error) {
      if (signal.aborted) return { kind: 'aborted' };
      problem = timeout.aborted ? `the request got no answer within ${endpoint.requestTimeoutMs} ms` : `the request failed: ${describeFetchError(error)}`;
    }
    if (attempt >= endpoint.maxRetries)
      return { kind: 'failed', reason: endpoint.maxRetries === 0 ? problem : `${problem} (after ${endpoint.maxRetries} retries)` };
    const delay = Math.max(endpoint.retryDelayMs * 2 ** attempt, retryAfterMs);
    endpoint.onRetry(`${problem}; retrying in ${delay} ms (retry ${attempt + 1} of ${endpoint.maxRetries})`);
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      return { kind: 'aborted' };
    }
  }
}

function parseCompletion(text: string, turn: number): ChatCompletionOutcome {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'failed', reason: `the endpoint's answer is not JSON${errorDetail(text)}` };
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success)
    return {
      kind: 'failed',
      reason: `the endpoint's answer is not a chat completion (${parsed.error.issues[0]?.path.join('.') || 'body'}: ${parsed.error.issues[0]?.message})`,
    };
  const message = parsed.data.choices[0]!.message;
  const toolCalls = (message.tool_calls ?? []).map((call, index): ChatToolCall => ({
    // The id pairs the tool result with its call; a server that leaves it out gets one made up.
    id: call.id ?? `call_${turn}_${index}`,
    type: 'function',
    function: {
      name: call.function.name,
      arguments: typeof call.function.arguments === 'string' ? call.function.arguments : JSON.stringify(call.function.arguments ?? {}),
    },
  }));
  return { kind: 'message', content: message.content ?? null, toolCalls };
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After in milliseconds (seconds or an HTTP date), capped; 0 when absent or unreadable. */
function retryAfter(value: string | null): number {
  if (value === null) return 0;
  const seconds = Number(value);
  const milliseconds = Number.isFinite(seconds) ? seconds * 1_000 : Date.parse(value) - Date.now();
  return Number.isFinite(milliseconds) && milliseconds > 0 ? Math.min(milliseconds, maxRetryAfterMs) : 0;
}

/** The error message of an OpenAI-style error body, else the start of the body. */
function errorDetail(text: string): string {
  if (text.trim() === '') return '';
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === 'string') return `: ${truncate(message, 500)}`;
  } catch {
    // Not JSON: show the text itself.
  }
  return `: ${truncate(text.trim(), 500)}`;
}

function describeFetchError(error: unknown): string {
  // fetch's TypeError says only "fetch failed"; the reason (ECONNREFUSED) is its cause.
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return (error as Error).message ?? String(error);
}

export function truncate(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length)}…`;
}
