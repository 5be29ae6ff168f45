import { inputText, pieces, type AnswerContext, type ScriptedAnswer, type ScriptedUsage, type StreamFrame } from './scripted-models.test-support.ts';

/**
 * The OpenAI Chat Completions API's wire format for a scripted answer: the `chat.completion` of a
 * non-streamed call and the `chat.completion.chunk`s of a streamed one (the role, text deltas,
 * tool calls by index with their arguments in pieces, the finish reason, and with
 * `stream_options.include_usage` a last chunk with no choices and the usage), ended by `[DONE]`.
 */

/** The usage object; `prompt_tokens` includes the cached tokens, as the API reports it. */
export function chatUsage(usage: ScriptedUsage) {
  const promptTokens = usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: promptTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function callId(context: AnswerContext, index: number): string {
  return `call_scripted_${context.sequence}_${index}`;
}

function finishReason(answer: ScriptedAnswer): 'tool_calls' | 'stop' {
  return (answer.toolCalls ?? []).length > 0 ? 'tool_calls' : 'stop';
}

function header(context: AnswerContext, object: string) {
  return { id: `chatcmpl-scripted-${context.sequence}`, object, created: Math.floor(Date.now() / 1000), model: context.model };
}

/** The body of a non-streamed `POST /v1/chat/completions`. */
export function chatCompletion(answer: ScriptedAnswer, context: AnswerContext) {
  const toolCalls = (answer.toolCalls ?? []).map((call, index) => ({
    id: callId(context, index),
    type: 'function',
    function: { name: call.name, arguments: inputText(call) },
  }));
  return {
    ...header(context, 'chat.completion'),
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: answer.text ?? null, refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
        logprobs: null,
        finish_reason: finishReason(answer),
      },
    ],
    usage: chatUsage(answer.usage),
  };
}

/** The chunks of a streamed `POST /v1/chat/completions`, `[DONE]` last. */
export function chatChunks(answer: ScriptedAnswer, context: AnswerContext, includeUsage: boolean): StreamFrame[] {
  const base = header(context, 'chat.completion.chunk');
  // With include_usage every chunk carries `usage: null` until the last one.
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): StreamFrame => ({
    data: { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(includeUsage ? { usage: null } : {}) },
  });
  const frames: StreamFrame[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const content of pieces(answer.text ?? '', answer.textPieces)) frames.push(chunk({ content }));
  for (const [index, call] of (answer.toolCalls ?? []).entries()) {
    frames.push(chunk({ tool_calls: [{ index, id: callId(context, index), type: 'function', function: { name: call.name, arguments: '' } }] }));
    for (const argumentsPiece of pieces(inputText(call))) frames.push(chunk({ tool_calls: [{ index, function: { arguments: argumentsPiece } }] }));
  }
  frames.push(chunk({}, finishReason(answer)));
  if (includeUsage) frames.push({ data: { ...base, choices: [], usage: chatUsage(answer.usage) } });
  frames.push({ data: '[DONE]' });
  return frames;
}

const errorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  503: 'server_error',
};

/** The body of an error answer (the same shape for the Chat Completions and Responses APIs). */
export function chatError(status: number, message: string) {
  return { error: { message, type: errorTypes[status] ?? 'server_error', param: null, code: null } };
}
