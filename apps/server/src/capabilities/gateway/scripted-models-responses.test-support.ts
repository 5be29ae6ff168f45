import { chatError } from './scripted-models-chat.test-support.ts';
import {
  inputText,
  pieces,
  type AnswerContext,
  type ScriptedAnswer,
  type ScriptedToolCall,
  type ScriptedUsage,
  type StreamFrame,
} from './scripted-models.test-support.ts';

/**
 * The OpenAI Responses API's wire format for a scripted answer: the `response` object of a
 * non-streamed call and the events of a streamed one (`response.created`, `response.in_progress`,
 * per output item `response.output_item.added`, its deltas and `response.output_item.done`, then
 * `response.completed` carrying the whole response and its usage), each with a `sequence_number`.
 * A tool call is a `function_call` item, or a `custom_tool_call` when the request declares the
 * tool as `type: "custom"` (a freeform tool such as Codex's `apply_patch`).
 */

type OutputItem =
  | { type: 'message'; id: string; status: string; role: 'assistant'; content: { type: 'output_text'; text: string; annotations: [] }[] }
  | { type: 'function_call'; id: string; status: string; call_id: string; name: string; arguments: string }
  | { type: 'custom_tool_call'; id: string; status: string; call_id: string; name: string; input: string };

/** The usage object; `input_tokens` includes the cached tokens, as the API reports it. */
export function responsesUsage(usage: ScriptedUsage) {
  const inputTokens = usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0);
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: usage.cacheReadTokens ?? 0 },
    output_tokens: usage.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + usage.outputTokens,
  };
}

function declaresCustomTool(context: AnswerContext, name: string): boolean {
  const tools = context.body['tools'];
  return Array.isArray(tools) && tools.some((tool: { type?: unknown; name?: unknown }) => tool.type === 'custom' && tool.name === name);
}

function toolItem(call: ScriptedToolCall, index: number, context: AnswerContext): OutputItem {
  const common = { status: 'completed', call_id: `call_scripted_${context.sequence}_${index}`, name: call.name };
  if (declaresCustomTool(context, call.name))
    return { type: 'custom_tool_call', id: `ctc_scripted_${context.sequence}_${index}`, ...common, input: inputText(call) };
  return { type: 'function_call', id: `fc_scripted_${context.sequence}_${index}`, ...common, arguments: inputText(call) };
}

function outputItems(answer: ScriptedAnswer, context: AnswerContext): OutputItem[] {
  const items: OutputItem[] = [];
  if (answer.text !== undefined) {
    items.push({
      type: 'message',
      id: `msg_scripted_${context.sequence}`,
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: answer.text, annotations: [] }],
    });
  }
  for (const [index, call] of (answer.toolCalls ?? []).entries()) items.push(toolItem(call, index, context));
  return items;
}

function response(context: AnswerContext, status: 'in_progress' | 'completed', output: OutputItem[], usage: ScriptedUsage | null) {
  return {
    id: `resp_scripted_${context.sequence}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    error: null,
    incomplete_details: null,
    model: context.model,
    output,
    parallel_tool_calls: true,
    tool_choice: 'auto',
    usage: usage === null ? null : responsesUsage(usage),
  };
}

/** The body of a non-streamed `POST /v1/responses`. */
export function responsesObject(answer: ScriptedAnswer, context: AnswerContext) {
  return response(context, 'completed', outputItems(answer, context), answer.usage);
}

/** The events of a streamed `POST /v1/responses`. */
export function responsesEvents(answer: ScriptedAnswer, context: AnswerContext): StreamFrame[] {
  const frames: StreamFrame[] = [];
  const event = (type: string, data: Record<string, unknown>) => frames.push({ event: type, data: { type, sequence_number: frames.length, ...data } });
  const output = outputItems(answer, context);
  event('response.created', { response: response(context, 'in_progress', [], null) });
  event('response.in_progress', { response: response(context, 'in_progress', [], null) });
  for (const [output_index, item] of output.entries()) {
    const item_id = item.id;
    if (item.type === 'message') {
      const text = item.content[0]?.text ?? '';
      const part = (partText: string) => ({ type: 'output_text', text: partText, annotations: [] });
      event('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      event('response.content_part.added', { item_id, output_index, content_index: 0, part: part('') });
      for (const delta of pieces(text, answer.textPieces))
        event('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] });
      event('response.output_text.done', { item_id, output_index, content_index: 0, text, logprobs: [] });
      event('response.content_part.done', { item_id, output_index, content_index: 0, part: part(text) });
    } else if (item.type === 'function_call') {
      event('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const delta of pieces(item.arguments)) event('response.function_call_arguments.delta', { item_id, output_index, delta });
      event('response.function_call_arguments.done', { item_id, output_index, arguments: item.arguments });
    } else {
      event('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', input: '' } });
      for (const delta of pieces(item.input)) event('response.custom_tool_call_input.delta', { item_id, output_index, delta });
      event('response.custom_tool_call_input.done', { item_id, output_index, input: item.input });
    }
    event('response.output_item.done', { output_index, item });
  }
  event('response.completed', { response: response(context, 'completed', output, answer.usage) });
  return frames;
}

/** The body of an error answer. */
export function responsesError(status: number, message: string) {
  return chatError(status, message);
}
