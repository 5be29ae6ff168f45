import type { ModelCallData } from '@cairn/core';
import { isRecord } from '../../gateway/model-usage-readers.ts';
import { SseEventSplitter } from '../../gateway/usage-meter-sse.ts';

/** A tool call as a model's answer gave it; freeform input (not a JSON object) is kept as `{ input }`. */
export interface CallOfTool {
  readonly id: string;
  readonly name: string;
  readonly arguments: Record<string, unknown>;
}

/**
 * One message of a conversation, the same whatever the wire format: what a request sent (system
 * prompt, user turns, the model's earlier turns, tool results) and what an answer said.
 */
export type ConversationMessage =
  | { readonly role: 'system'; readonly text: string }
  | { readonly role: 'user'; readonly text: string }
  | { readonly role: 'assistant'; readonly text: string; readonly reasoning?: string; readonly toolCalls: readonly CallOfTool[] }
  | { readonly role: 'tool'; readonly callId: string; readonly text: string };

type Api = ModelCallData['api'];

/** The messages a model request sent, in order; `undefined` when the body is not a request of `api`. */
export function requestMessages(api: Api, body: unknown): ConversationMessage[] | undefined {
  if (!isRecord(body)) return undefined;
  if (api === 'anthropic-messages') return anthropicRequest(body);
  if (api === 'openai-chat') return chatRequest(body);
  return responsesRequest(body);
}

/** Whether a Responses request continues a stored response (its input is only what is new). */
export function continuesStoredResponse(api: Api, body: unknown): boolean {
  return api === 'openai-responses' && isRecord(body) && typeof body['previous_response_id'] === 'string';
}

/**
 * The model's turn in an answer's bytes, streamed (server-sent events) or whole; `undefined`
 * when the bytes hold no answer of `api` (an error body, a stream cut before its first event).
 */
export function answerMessage(api: Api, bytes: Uint8Array, stream: boolean): ConversationMessage | undefined {
  if (!stream) {
    const body = parse(new TextDecoder().decode(bytes));
    if (!isRecord(body)) return undefined;
    if (api === 'anthropic-messages') return Array.isArray(body['content']) ? assistantOfBlocks(body['content']) : undefined;
    if (api === 'openai-chat') return chatAnswer(body);
    return Array.isArray(body['output']) ? assistantOfItems(body['output']) : undefined;
  }
  const events: { event: string | undefined; data: unknown }[] = [];
  // Answers are bounded by the gateway's stored-bytes limit already; no event is dropped here.
  const splitter = new SseEventSplitter(
    () => true,
    (event, data) => {
      if (data !== undefined && data !== '[DONE]') events.push({ event, data: parse(data) });
    },
    Number.MAX_SAFE_INTEGER,
  );
  splitter.push(bytes);
  splitter.end();
  if (api === 'anthropic-messages') return anthropicStream(events.map((event) => event.data));
  if (api === 'openai-chat') return chatStream(events.map((event) => event.data));
  return responsesStream(events.map((event) => event.data));
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function argumentsOf(input: unknown): Record<string, unknown> {
  if (typeof input === 'string') {
    const parsed = input.trim() === '' ? {} : parse(input);
    // ATIF wants an object: a freeform input (Codex's apply_patch) or a half-streamed one stays whole as `input`.
    return isRecord(parsed) ? parsed : { input };
  }
  return isRecord(input) ? input : { input };
}

/** Text of a string or of content parts (`text`, `input_text`, `output_text`); other parts are named, not dropped silently. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => {
      if (!isRecord(part)) return '';
      if (typeof part['text'] === 'string') return part['text'];
      if (typeof part['refusal'] === 'string') return part['refusal'];
      return typeof part['type'] === 'string' ? `[${part['type']}]` : '';
    })
    .filter((text) => text !== '')
    .join('\n');
}

// Anthropic Messages: `system` beside the messages; a user message's blocks may hold tool results
// (each its own message here, before the user's text) and an assistant's its thinking and tool uses.
function anthropicRequest(body: Record<string, unknown>): ConversationMessage[] | undefined {
  if (!Array.isArray(body['messages'])) return undefined;
  const messages: ConversationMessage[] = [];
  const system = textOf(body['system']);
  if (system !== '') messages.push({ role: 'system', text: system });
  for (const message of body['messages']) {
    if (!isRecord(message)) continue;
    if (message['role'] === 'assistant') {
      messages.push(
        typeof message['content'] === 'string' ? { role: 'assistant', text: message['content'], toolCalls: [] } : assistantOfBlocks(message['content']),
      );
      continue;
    }
    const blocks = typeof message['content'] === 'string' ? [{ type: 'text', text: message['content'] }] : message['content'];
    if (!Array.isArray(blocks)) continue;
    const texts: unknown[] = [];
    for (const block of blocks) {
      if (isRecord(block) && block['type'] === 'tool_result') {
        messages.push({ role: 'tool', callId: String(block['tool_use_id'] ?? ''), text: textOf(block['content']) });
      } else texts.push(block);
    }
    if (texts.length > 0) messages.push({ role: 'user', text: textOf(texts) });
  }
  return messages;
}

function assistantOfBlocks(blocks: unknown): ConversationMessage {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: CallOfTool[] = [];
  for (const block of Array.isArray(blocks) ? blocks : []) {
    if (!isRecord(block)) continue;
    if (block['type'] === 'text' && typeof block['text'] === 'string') texts.push(block['text']);
    else if (block['type'] === 'thinking' && typeof block['thinking'] === 'string') reasoning.push(block['thinking']);
    else if (block['type'] === 'tool_use' || block['type'] === 'server_tool_use')
      toolCalls.push({ id: String(block['id'] ?? ''), name: String(block['name'] ?? ''), arguments: argumentsOf(block['input']) });
  }
  return assistant(texts, reasoning, toolCalls);
}

function assistant(texts: readonly string[], reasoning: readonly string[], toolCalls: readonly CallOfTool[]): ConversationMessage {
  return { role: 'assistant', text: texts.join('\n'), ...(reasoning.length > 0 ? { reasoning: reasoning.join('\n') } : {}), toolCalls };
}

function anthropicStream(events: readonly unknown[]): ConversationMessage | undefined {
  const blocks: Record<string, unknown>[] = [];
  const json: string[] = [];
  let started = false;
  for (const event of events) {
    if (!isRecord(event)) continue;
    if (event['type'] === 'message_start') started = true;
    const index = typeof event['index'] === 'number' ? event['index'] : -1;
    if (event['type'] === 'content_block_start' && isRecord(event['content_block'])) {
      blocks[index] = { ...event['content_block'] };
      json[index] = '';
    } else if (event['type'] === 'content_block_delta' && isRecord(event['delta']) && blocks[index] !== undefined) {
      const delta = event['delta'];
      const block = blocks[index];
      if (delta['type'] === 'text_delta') block['text'] = `${String(block['text'] ?? '')}${String(delta['text'] ?? '')}`;
      else if (delta['type'] === 'thinking_delta') block['thinking'] = `${String(block['thinking'] ?? '')}${String(delta['thinking'] ?? '')}`;
      else if (delta['type'] === 'input_json_delta') json[index] = `${json[index] ?? ''}${String(delta['partial_json'] ?? '')}`;
    }
  }
  if (!started) return undefined;
  // A tool use's input arrives as pieces of JSON text; its start event carries an empty object.
  for (const [index, block] of blocks.entries()) if (block !== undefined && json[index] !== '' && json[index] !== undefined) block['input'] = json[index];
  return assistantOfBlocks(blocks.filter((block) => block !== undefined));
}

// OpenAI Chat Completions: one message list, `tool` messages answering `tool_calls` by id.
function chatRequest(body: Record<string, unknown>): ConversationMessage[] | undefined {
  if (!Array.isArray(body['messages'])) return undefined;
  const messages: ConversationMessage[] = [];
  for (const message of body['messages']) {
    if (!isRecord(message)) continue;
    const role = message['role'];
    if (role === 'system' || role === 'developer') messages.push({ role: 'system', text: textOf(message['content']) });
    else if (role === 'user') messages.push({ role: 'user', text: textOf(message['content']) });
    else if (role === 'tool') messages.push({ role: 'tool', callId: String(message['tool_call_id'] ?? ''), text: textOf(message['content']) });
    else if (role === 'assistant') messages.push(chatAssistant(message));
  }
  return messages;
}

function chatAssistant(message: Record<string, unknown>): ConversationMessage {
  const toolCalls = (Array.isArray(message['tool_calls']) ? message['tool_calls'] : []).filter(isRecord).map((call) => {
    const fn = isRecord(call['function']) ? call['function'] : {};
    return { id: String(call['id'] ?? ''), name: String(fn['name'] ?? ''), arguments: argumentsOf(fn['arguments']) };
  });
  const reasoning = typeof message['reasoning_content'] === 'string' ? [message['reasoning_content']] : [];
  return assistant(
    [textOf(message['content'])].filter((text) => text !== ''),
    reasoning,
    toolCalls,
  );
}

function chatAnswer(body: Record<string, unknown>): ConversationMessage | undefined {
  const choice = Array.isArray(body['choices']) ? body['choices'][0] : undefined;
  return isRecord(choice) && isRecord(choice['message']) ? chatAssistant(choice['message']) : undefined;
}

function chatStream(chunks: readonly unknown[]): ConversationMessage | undefined {
  let content = '';
  let reasoning = '';
  let seen = false;
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (const chunk of chunks) {
    const choice = isRecord(chunk) && Array.isArray(chunk['choices']) ? chunk['choices'][0] : undefined;
    if (!isRecord(choice) || !isRecord(choice['delta'])) continue;
    seen = true;
    const delta = choice['delta'];
    if (typeof delta['content'] === 'string') content += delta['content'];
    if (typeof delta['reasoning_content'] === 'string') reasoning += delta['reasoning_content'];
    for (const piece of Array.isArray(delta['tool_calls']) ? delta['tool_calls'] : []) {
      if (!isRecord(piece)) continue;
      const index = typeof piece['index'] === 'number' ? piece['index'] : calls.length;
      const call = (calls[index] ??= { id: '', name: '', arguments: '' });
      const fn = isRecord(piece['function']) ? piece['function'] : {};
      if (typeof piece['id'] === 'string') call.id = piece['id'];
      if (typeof fn['name'] === 'string') call.name += fn['name'];
      if (typeof fn['arguments'] === 'string') call.arguments += fn['arguments'];
    }
  }
  if (!seen) return undefined;
  const toolCalls = calls.filter((call) => call !== undefined).map((call) => ({ id: call.id, name: call.name, arguments: argumentsOf(call.arguments) }));
  return assistant(content === '' ? [] : [content], reasoning === '' ? [] : [reasoning], toolCalls);
}

// OpenAI Responses: `instructions` beside a flat list of items; the model's items (reasoning,
// message, function calls) in a row are one turn, and outputs answer calls by `call_id`.
function responsesRequest(body: Record<string, unknown>): ConversationMessage[] | undefined {
  const input = body['input'];
  if (typeof input !== 'string' && !Array.isArray(input)) return undefined;
  const messages: ConversationMessage[] = [];
  if (typeof body['instructions'] === 'string' && body['instructions'] !== '') messages.push({ role: 'system', text: body['instructions'] });
  if (typeof input === 'string') return [...messages, { role: 'user', text: input }];
  let turn: unknown[] = [];
  const endTurn = () => {
    if (turn.length > 0) messages.push(assistantOfItems(turn));
    turn = [];
  };
  for (const item of input) {
    if (!isRecord(item)) continue;
    const type = item['type'] ?? 'message';
    if (modelItem(item)) {
      turn.push(item);
      continue;
    }
    endTurn();
    if (type === 'message' && (item['role'] === 'system' || item['role'] === 'developer')) messages.push({ role: 'system', text: textOf(item['content']) });
    else if (type === 'message') messages.push({ role: 'user', text: textOf(item['content']) });
    else if (typeof type === 'string' && type.endsWith('_output'))
      messages.push({ role: 'tool', callId: String(item['call_id'] ?? ''), text: textOf(item['output']) });
  }
  endTurn();
  return messages;
}

function modelItem(item: Record<string, unknown>): boolean {
  const type = item['type'] ?? 'message';
  if (type === 'message') return item['role'] === 'assistant';
  return type === 'reasoning' || (typeof type === 'string' && type.endsWith('_call'));
}

function assistantOfItems(items: readonly unknown[]): ConversationMessage {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: CallOfTool[] = [];
  for (const item of items) {
    if (!isRecord(item)) continue;
    const type = item['type'] ?? 'message';
    if (type === 'message') texts.push(textOf(item['content']));
    else if (type === 'reasoning') reasoning.push(textOf(item['summary']) || textOf(item['content']));
    else if (typeof type === 'string' && type.endsWith('_call')) {
      const input = item['arguments'] ?? item['input'] ?? item['action'];
      toolCalls.push({ id: String(item['call_id'] ?? item['id'] ?? ''), name: String(item['name'] ?? type), arguments: argumentsOf(input) });
    }
  }
  return assistant(
    texts.filter((text) => text !== ''),
    reasoning.filter((text) => text !== ''),
    toolCalls,
  );
}

function responsesStream(events: readonly unknown[]): ConversationMessage | undefined {
  // The completed response carries every output item; a stream cut before it still gave the items it finished.
  for (const event of events) {
    if (isRecord(event) && event['type'] === 'response.completed' && isRecord(event['response']) && Array.isArray(event['response']['output']))
      return assistantOfItems(event['response']['output']);
  }
  const done = events
    .filter((event) => isRecord(event) && event['type'] === 'response.output_item.done')
    .map((event) => (event as Record<string, unknown>)['item']);
  return done.length > 0 ? assistantOfItems(done) : undefined;
}
