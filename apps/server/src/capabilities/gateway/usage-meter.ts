import type { ModelUsage } from './model-usage.ts';
import { isRecord, readAnthropicUsage, readOpenAIChatUsage, readOpenAIResponsesUsage, type UsageReading } from './model-usage-readers.ts';
import { SseEventSplitter } from './usage-meter-sse.ts';

/** The provider APIs the gateway proxies, each with its own usage format. */
export type MeteredApi = 'anthropic-messages' | 'openai-chat' | 'openai-responses';

/**
 * What a meter measured. `usage` is present only when the provider reported all of it; a
 * missing or unreadable report gives `usage: undefined` and a `problem` saying what was wrong,
 * so the call is recorded as unknown rather than guessed.
 */
export interface UsageMeterResult {
  usage: ModelUsage | undefined;
  /** The model as the provider's response named it, when it did. */
  model: string | undefined;
  /**
   * `performance.now()` when the first content delta passed through, for time to first token.
   * Only streams have one: a non-streamed body arrives when the whole answer is ready.
   */
  firstTokenAt?: number;
  problem?: string;
  /**
   * What a stream said before it ended without its usage report (cut short, or the agent hung
   * up): the figures of its start event, and how many content deltas passed. Only on a stream
   * with no `usage`; the gateway estimates the call's usage from it.
   */
  partial?: PartialUsage;
}

/** The figures a stream gave before its usage report, each absent when it gave none. */
export interface PartialUsage {
  /** Anthropic's `message_start` input figures (OpenAI streams report none before the end). */
  readonly inputTokens?: number;
  readonly cacheReadTokens?: number;
  readonly cacheWriteTokens?: number;
  /** Anthropic's provisional `output_tokens` (of `message_start`, or the latest `message_delta`). */
  readonly outputTokens?: number;
  /** Content deltas (text, tool input, reasoning) that passed: each carries at least one token. */
  readonly contentDeltas: number;
}

/**
 * Measures one model call from the response body the gateway passes through, without
 * changing or holding up a byte of it.
 */
export interface UsageMeter {
  /** Feeds the next piece of the response body, split anywhere (even inside a character). */
  push(chunk: Uint8Array): void;
  /** Ends the body and says what was measured. Calling it again gives the same result. */
  finish(): UsageMeterResult;
}

/**
 * The most of a response the meter will hold: a whole non-streamed body, or one event of a
 * stream it has to read. Bodies past it are passed through unmeasured (with a problem) rather
 * than letting one response take the server's memory.
 */
export const MAX_METERED_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Creates a meter for one response of `api`, streamed (server-sent events) or not.
 *
 * A stream is read as it passes, and only the events that carry usage or the model name are
 * parsed: the per-chunk cost of the rest is a UTF-8 decode and a newline search. A non-streamed
 * body is parsed once, at `finish`.
 */
export function createUsageMeter(api: MeteredApi, stream: boolean): UsageMeter {
  const reader = stream ? streamReaders[api]() : bodyReader(api);
  let result: UsageMeterResult | undefined;
  return {
    push(chunk) {
      if (result === undefined) reader.push(chunk);
    },
    finish() {
      result ??= reader.finish();
      return result;
    },
  };
}

function outcome(
  reading: UsageReading | { problem: string },
  model: string | undefined,
  firstTokenAt: number | undefined,
  partial?: PartialUsage,
): UsageMeterResult {
  const result: UsageMeterResult = 'usage' in reading ? { usage: reading.usage, model } : { usage: undefined, model, problem: reading.problem };
  if (firstTokenAt !== undefined) result.firstTokenAt = firstTokenAt;
  if (partial !== undefined && !('usage' in reading)) result.partial = partial;
  return result;
}

/** A whole token count from a usage field, or undefined. */
function countOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

function stringField(record: unknown, key: string): string | undefined {
  if (!isRecord(record)) return undefined;
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

function errorText(error: unknown): string {
  if (!isRecord(error)) return 'no details';
  const kind = stringField(error, 'type') ?? stringField(error, 'code');
  const message = stringField(error, 'message');
  return [kind, message].filter((part) => part !== undefined).join(': ') || 'no details';
}

// Non-streamed bodies ---------------------------------------------------------------------------

function bodyReader(api: MeteredApi): UsageMeter {
  const decoder = new TextDecoder('utf-8');
  let parts: string[] = [];
  let bytes = 0;
  return {
    push(chunk) {
      bytes += chunk.byteLength;
      if (bytes > MAX_METERED_BODY_BYTES) {
        parts = [];
        return;
      }
      parts.push(decoder.decode(chunk, { stream: true }));
    },
    finish() {
      if (bytes > MAX_METERED_BODY_BYTES) {
        return outcome({ problem: `response body of ${bytes} bytes exceeds the ${MAX_METERED_BODY_BYTES} bytes the meter reads` }, undefined, undefined);
      }
      parts.push(decoder.decode());
      const text = parts.join('');
      parts = [];
      if (text.trim().length === 0) return outcome({ problem: 'response body is empty' }, undefined, undefined);
      const body = parse(text);
      if (!isRecord(body)) return outcome({ problem: 'response body is not a JSON object' }, undefined, undefined);
      const model = stringField(body, 'model');
      switch (api) {
        case 'anthropic-messages':
          if (body['type'] === 'error') return outcome({ problem: `provider returned an error (${errorText(body['error'])})` }, model, undefined);
          if (body['usage'] === undefined) return outcome({ problem: 'response has no usage' }, model, undefined);
          return outcome(readAnthropicUsage(body['usage']), model, undefined);
        case 'openai-chat':
        case 'openai-responses': {
          const usage = body['usage'];
          if (usage === undefined || usage === null) {
            const error = body['error'];
            const problem = isRecord(error) ? `provider returned an error (${errorText(error)})` : 'response has no usage';
            return outcome({ problem }, model, undefined);
          }
          return outcome(api === 'openai-chat' ? readOpenAIChatUsage(usage) : readOpenAIResponsesUsage(usage), model, undefined);
        }
      }
    },
  };
}

// Streams ---------------------------------------------------------------------------------------

const streamReaders: Record<MeteredApi, () => UsageMeter> = {
  'anthropic-messages': anthropicStreamReader,
  'openai-chat': openAIChatStreamReader,
  'openai-responses': openAIResponsesStreamReader,
};

/** What a reader of named events does with them (see `namedEventSplitter`). */
interface NamedEventHandlers {
  /** A content event passed: the first one is the time to first token. */
  content(): void;
  problem(text: string): void;
  /** An event that may carry usage or the model, parsed (undefined when its data is not JSON). */
  event(type: string, payload: unknown): void;
}

/**
 * The splitter of an API whose events are named (Anthropic Messages, OpenAI Responses): a content
 * event is known by its name and never parsed; an event `wanted` may carry usage, and is parsed
 * and handed on with its type (its `event:` name, else its JSON `type`), unless it is too big to
 * hold, which is a problem.
 */
function namedEventSplitter(wanted: (event: string | undefined) => boolean, isContent: (type: string) => boolean, on: NamedEventHandlers): SseEventSplitter {
  return new SseEventSplitter(
    wanted,
    (event, data, oversized) => {
      if (event !== undefined && isContent(event)) return on.content();
      if (oversized) return on.problem(`a ${event ?? 'nameless'} event exceeded ${MAX_METERED_BODY_BYTES} bytes and was not read`);
      if (data === undefined) return;
      const payload = parse(data);
      const type = event ?? stringField(payload, 'type');
      if (type === undefined) return;
      if (isContent(type)) return on.content();
      on.event(type, payload);
    },
    MAX_METERED_BODY_BYTES,
  );
}

const anthropicUsageKeys = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

/**
 * Anthropic reports input and cache tokens in `message_start` (with a provisional
 * `output_tokens`) and the cumulative `output_tokens` in each `message_delta`; newer API
 * versions repeat the input and cache counts there, so the latest non-null value of each field
 * wins. Without a `message_delta` the final output count is unknown, so there is no usage.
 */
function anthropicStreamReader(): UsageMeter {
  const usage: Record<string, unknown> = {};
  let model: string | undefined;
  let firstTokenAt: number | undefined;
  let sawStart = false;
  let sawDelta = false;
  let contentDeltas = 0;
  let problem: string | undefined;

  const merge = (reported: unknown): void => {
    if (!isRecord(reported)) return;
    for (const key of anthropicUsageKeys) {
      const value = reported[key];
      if (value !== undefined && value !== null) usage[key] = value;
    }
  };

  const splitter = namedEventSplitter(
    (event) => event === undefined || event === 'message_start' || event === 'message_delta' || event === 'error',
    (type) => type === 'content_block_delta',
    {
      content: () => {
        firstTokenAt ??= performance.now();
        contentDeltas += 1;
      },
      problem: (text) => (problem ??= text),
      event(type, payload) {
        if (type === 'message_start') {
          const message = isRecord(payload) ? payload['message'] : undefined;
          if (!isRecord(message)) {
            problem ??= 'message_start event is not JSON with a message object';
            return;
          }
          sawStart = true;
          model = stringField(message, 'model') ?? model;
          merge(message['usage']);
        } else if (type === 'message_delta') {
          if (!isRecord(payload)) {
            problem ??= 'message_delta event is not a JSON object';
            return;
          }
          sawDelta = true;
          merge(payload['usage']);
        } else if (type === 'error') {
          problem ??= `stream ended with an error event (${errorText(isRecord(payload) ? payload['error'] : undefined)})`;
        }
      },
    },
  );

  return {
    push: (chunk) => splitter.push(chunk),
    finish() {
      splitter.end();
      const partial = {
        ...definedCounts({
          inputTokens: usage['input_tokens'],
          cacheReadTokens: usage['cache_read_input_tokens'],
          cacheWriteTokens: usage['cache_creation_input_tokens'],
          outputTokens: usage['output_tokens'],
        }),
        contentDeltas,
      };
      if (!sawStart) return outcome({ problem: problem ?? 'stream has no message_start event' }, model, firstTokenAt, partial);
      if (!sawDelta)
        return outcome({ problem: problem ?? 'stream ended before a message_delta event: the final output_tokens is unknown' }, model, firstTokenAt, partial);
      return outcome(readAnthropicUsage(usage), model, firstTokenAt, partial);
    },
  };
}

function definedCounts(counts: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).flatMap(([key, value]) => (countOf(value) === undefined ? [] : [[key, countOf(value)!]])));
}

// `"usage":null` rides on every chunk once usage is requested; only an object is the report.
// Inside a JSON string a quote is escaped, so generated text cannot fake this.
const chatUsagePattern = /"usage"\s*:\s*\{/;
const chatErrorPattern = /^\s*\{\s*"error"\s*:/;
// The chunk that ends a choice (`"finish_reason":"stop"`) carries no content of its own.
const chatFinishPattern = /"finish_reason"\s*:\s*"/;

/**
 * OpenAI Chat Completions streams carry usage only in a last chunk (empty `choices`) before
 * `[DONE]`, and only when the request set `stream_options.include_usage` (see
 * `withStreamUsage`). Chunks are parsed until the first content delta (for the model and time
 * to first token); after that a chunk is parsed only if it holds a usage object or an error.
 */
function openAIChatStreamReader(): UsageMeter {
  let usage: unknown;
  let model: string | undefined;
  let firstTokenAt: number | undefined;
  let contentDeltas = 0;
  let problem: string | undefined;

  const take = (chunk: unknown): void => {
    if (!isRecord(chunk)) {
      problem ??= 'a chunk is not a JSON object';
      return;
    }
    model = stringField(chunk, 'model') ?? model;
    if (isRecord(chunk['error'])) problem ??= `stream ended with an error (${errorText(chunk['error'])})`;
    if (chunk['usage'] !== undefined && chunk['usage'] !== null) usage = chunk['usage'];
    if (firstTokenAt === undefined && hasContentDelta(chunk['choices'])) {
      firstTokenAt = performance.now();
      contentDeltas += 1;
    }
  };

  const splitter = new SseEventSplitter(
    () => true,
    (_event, data, oversized) => {
      if (oversized) {
        problem ??= `a chunk exceeded ${MAX_METERED_BODY_BYTES} bytes and was not read`;
        return;
      }
      if (data === undefined || data === '[DONE]') return;
      const usageOrError = chatUsagePattern.test(data) || chatErrorPattern.test(data);
      // After the first content chunk, every chunk but the last ones (finish, usage) is content,
      // counted without being parsed.
      if (firstTokenAt !== undefined && !usageOrError && !chatFinishPattern.test(data)) contentDeltas += 1;
      if (firstTokenAt === undefined || model === undefined || usageOrError) take(parse(data));
    },
    MAX_METERED_BODY_BYTES,
  );

  return {
    push: (chunk) => splitter.push(chunk),
    finish() {
      splitter.end();
      if (usage === undefined) {
        return outcome({ problem: problem ?? 'stream has no chunk with usage (the request must set stream_options.include_usage)' }, model, firstTokenAt, {
          contentDeltas,
        });
      }
      return outcome(readOpenAIChatUsage(usage), model, firstTokenAt, { contentDeltas });
    },
  };
}

function hasContentDelta(choices: unknown): boolean {
  if (!Array.isArray(choices)) return false;
  for (const choice of choices) {
    const delta = isRecord(choice) ? choice['delta'] : undefined;
    if (!isRecord(delta)) continue;
    // `reasoning_content` is what OpenAI-compatible reasoning servers stream before the answer.
    for (const key of ['content', 'refusal', 'reasoning_content']) {
      const value = delta[key];
      if (typeof value === 'string' && value.length > 0) return true;
    }
    if (Array.isArray(delta['tool_calls']) && delta['tool_calls'].length > 0) return true;
    if (isRecord(delta['function_call'])) return true;
  }
  return false;
}

const responsesTerminalEvents = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const responsesWantedEvents = new Set([...responsesTerminalEvents, 'response.created', 'error']);

/**
 * OpenAI Responses streams carry usage in the terminal event's `response.usage`:
 * `response.completed`, or `response.incomplete` (cut at max_output_tokens: the tokens were
 * still used and billed) or `response.failed`. Every `*.delta` event is content, known from its
 * name alone.
 */
function openAIResponsesStreamReader(): UsageMeter {
  let usage: unknown;
  let model: string | undefined;
  let firstTokenAt: number | undefined;
  let terminal: string | undefined;
  let contentDeltas = 0;
  let problem: string | undefined;

  const splitter = namedEventSplitter(
    (event) => event === undefined || responsesWantedEvents.has(event),
    (type) => type.endsWith('.delta'),
    {
      content: () => {
        firstTokenAt ??= performance.now();
        contentDeltas += 1;
      },
      problem: (text) => (problem ??= text),
      event(type, payload) {
        if (type === 'error') {
          problem ??= `stream had an error event (${errorText(payload)})`;
        } else if (type === 'response.created' || responsesTerminalEvents.has(type)) {
          const response = isRecord(payload) ? payload['response'] : undefined;
          if (!isRecord(response)) {
            problem ??= `${type} event is not JSON with a response object`;
            return;
          }
          model = stringField(response, 'model') ?? model;
          if (type === 'response.created') return;
          terminal = type;
          usage = response['usage'];
          if ((usage === undefined || usage === null) && isRecord(response['error'])) problem ??= `${type} (${errorText(response['error'])})`;
        }
      },
    },
  );

  return {
    push: (chunk) => splitter.push(chunk),
    finish() {
      splitter.end();
      const partial = { contentDeltas };
      if (terminal === undefined) {
        return outcome({ problem: problem ?? 'stream ended before response.completed, response.incomplete or response.failed' }, model, firstTokenAt, partial);
      }
      if (usage === undefined || usage === null) return outcome({ problem: problem ?? `${terminal} event has no usage` }, model, firstTokenAt, partial);
      return outcome(readOpenAIResponsesUsage(usage), model, firstTokenAt, partial);
    },
  };
}
