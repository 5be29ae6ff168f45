import { pieces, type AnswerContext, type ScriptedAnswer, type ScriptedUsage, type StreamFrame } from './scripted-models.test-support.ts';

/**
 * The Anthropic Messages API's wire format for a scripted answer: the message object of a
 * non-streamed call and the server-sent events of a streamed one (`message_start`, `ping`, per
 * content block `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
 * `content_block_stop`, then `message_delta` with the stop reason and the final usage, and
 * `message_stop`).
 */

interface ContentBlock {
  readonly type: 'text' | 'tool_use';
  readonly text?: string;
  readonly id?: string;
  readonly name?: string;
  readonly input?: unknown;
}

/** The usage object; `input_tokens` excludes the cache reads and writes, as the API reports it. */
export function anthropicUsage(usage: ScriptedUsage, outputTokens = usage.outputTokens) {
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheWriteTokens ?? 0,
    cache_read_input_tokens: usage.cacheReadTokens ?? 0,
    output_tokens: outputTokens,
  };
}

function blocks(answer: ScriptedAnswer, context: AnswerContext): ContentBlock[] {
  const content: ContentBlock[] = [];
  if (answer.text !== undefined) content.push({ type: 'text', text: answer.text });
  for (const [index, call] of (answer.toolCalls ?? []).entries()) {
    content.push({ type: 'tool_use', id: `toolu_scripted_${context.sequence}_${index}`, name: call.name, input: call.input });
  }
  return content;
}

function stopReason(answer: ScriptedAnswer): 'tool_use' | 'end_turn' {
  return (answer.toolCalls ?? []).length > 0 ? 'tool_use' : 'end_turn';
}

function messageId(context: AnswerContext): string {
  return `msg_scripted_${context.sequence}`;
}

/** The body of a non-streamed `POST /v1/messages`. */
export function anthropicMessage(answer: ScriptedAnswer, context: AnswerContext) {
  return {
    id: messageId(context),
    type: 'message',
    role: 'assistant',
    model: context.model,
    content: blocks(answer, context),
    stop_reason: stopReason(answer),
    stop_sequence: null,
    usage: anthropicUsage(answer.usage),
  };
}

/** The events of a streamed `POST /v1/messages`. */
export function anthropicEvents(answer: ScriptedAnswer, context: AnswerContext): StreamFrame[] {
  const frames: StreamFrame[] = [];
  const event = (type: string, data: Record<string, unknown>) => frames.push({ event: type, data: { type, ...data } });
  // The real API reports the input at the start and a token or so of output; message_delta carries
  // the final, cumulative figures.
  event('message_start', {
    message: {
      id: messageId(context),
      type: 'message',
      role: 'assistant',
      model: context.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: anthropicUsage(answer.usage, Math.min(1, answer.usage.outputTokens)),
    },
  });
  event('ping', {});
  for (const [index, block] of blocks(answer, context).entries()) {
    if (block.type === 'text') {
      event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const text of pieces(block.text ?? '', answer.textPieces)) event('content_block_delta', { index, delta: { type: 'text_delta', text } });
    } else {
      event('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const partial_json of pieces(JSON.stringify(block.input)))
        event('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } });
    }
    event('content_block_stop', { index });
  }
  event('message_delta', { delta: { stop_reason: stopReason(answer), stop_sequence: null }, usage: anthropicUsage(answer.usage) });
  event('message_stop', {});
  return frames;
}

const errorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

/** The body of an error answer. */
export function anthropicError(status: number, message: string) {
  return { type: 'error', error: { type: errorTypes[status] ?? 'api_error', message } };
}
