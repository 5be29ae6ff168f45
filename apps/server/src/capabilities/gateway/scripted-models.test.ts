import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startScriptedModels, type ModelScript, type ScriptedModels } from './scripted-models.test-support.ts';

// The wire formats are proven against real clients in agent-clis.test.ts (Claude Code reads the
// streamed Messages API, Codex the streamed Responses API). Neither official SDK is installed and
// no CLI speaks Chat Completions any more, so here each API's streamed answer is read back the way
// a client assembles it and compared with the unstreamed answer to the same turn, with the usage
// figures each provider reports spelled out.

const open: ScriptedModels[] = [];
afterEach(async () => {
  for (const models of open.splice(0)) await models.close();
});

async function scripted(script: ModelScript): Promise<ScriptedModels> {
  const models = await startScriptedModels(script);
  open.push(models);
  return models;
}

interface SseEvent {
  readonly event: string | undefined;
  readonly data: string;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
      const data = lines.find((line) => line.startsWith('data: '))?.slice('data: '.length) ?? '';
      return { event, data };
    });
}

async function post(url: string, body: unknown, init: RequestInit = {}) {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...init });
}

const usage = { inputTokens: 11, outputTokens: 22, cacheReadTokens: 33, cacheWriteTokens: 44 };
const tool = { name: 'write_file', description: 'Writes a file', input_schema: { type: 'object' } };
const answerWithTool = { text: 'Writing it.', toolCalls: [{ name: 'write_file', input: { path: 'a.txt', content: 'x' } }], usage };

describe('the Anthropic Messages API', () => {
  it('streams the same message it answers unstreamed, with the final usage in message_delta', async () => {
    const models = await scripted({ anthropic: [answerWithTool, answerWithTool] });
    const request = { model: 'claude-test', max_tokens: 100, tools: [tool], messages: [{ role: 'user', content: 'go' }] };
    const plain = (await (await post(`${models.baseUrls.anthropic}/v1/messages`, request)).json()) as Record<string, unknown>;
    const streamed = await post(`${models.baseUrls.anthropic}/v1/messages`, { ...request, stream: true });
    expect(streamed.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(await streamed.text());

    expect(plain).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      stop_reason: 'tool_use',
      content: [
        { type: 'text', text: 'Writing it.' },
        { type: 'tool_use', id: 'toolu_scripted_1_0', name: 'write_file', input: { path: 'a.txt', content: 'x' } },
      ],
      usage: { input_tokens: 11, output_tokens: 22, cache_read_input_tokens: 33, cache_creation_input_tokens: 44 },
    });
    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      ...Array<string>(3).fill('content_block_delta'),
      'content_block_stop',
      'content_block_start',
      ...Array<string>(3).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const event of events) expect((JSON.parse(event.data) as { type: string }).type).toBe(event.event);

    // Assembled as a client does: blocks from their starts, text and JSON from the deltas.
    const payloads = events.map((event) => JSON.parse(event.data) as Record<string, any>);
    const blocks: Record<string, any>[] = [];
    let json = '';
    for (const payload of payloads) {
      if (payload['type'] === 'content_block_start') blocks[payload['index']] = { ...payload['content_block'] };
      if (payload['delta']?.type === 'text_delta') blocks[payload['index']]!['text'] += payload['delta'].text;
      if (payload['delta']?.type === 'input_json_delta') json += payload['delta'].partial_json;
      if (payload['type'] === 'content_block_stop' && blocks[payload['index']]!['type'] === 'tool_use') blocks[payload['index']]!['input'] = JSON.parse(json);
    }
    expect(blocks).toEqual(
      (plain['content'] as unknown[]).map((block) => ({ ...(block as object), id: (block as { id?: string }).id?.replace('_1_', '_2_') })).map(dropUndefined),
    );
    expect(payloads[0]?.['message'].usage).toEqual({ input_tokens: 11, output_tokens: 1, cache_read_input_tokens: 33, cache_creation_input_tokens: 44 });
    expect(payloads.at(-2)).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: plain['usage'] });
  });

  it('answers errors in its error shape, and x-should-retry when the turn says', async () => {
    const models = await scripted({ anthropic: [{ status: 529, message: 'Overloaded', retryable: false }] });
    const response = await post(`${models.baseUrls.anthropic}/v1/messages`, { model: 'm', tools: [tool], messages: [] });
    expect(response.status).toBe(529);
    expect(response.headers.get('x-should-retry')).toBe('false');
    expect(await response.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });
});

describe('the OpenAI Chat Completions API', () => {
  const request = {
    model: 'gpt-test',
    tools: [{ type: 'function', function: { name: 'write_file', parameters: {} } }],
    messages: [{ role: 'user', content: 'go' }],
  };

  it('streams the same completion it answers unstreamed; usage in a last chunk only with include_usage', async () => {
    const models = await scripted({ chat: [answerWithTool, answerWithTool, answerWithTool] });
    const plain = (await (await post(`${models.baseUrls.openai}/chat/completions`, request)).json()) as Record<string, any>;
    const withUsage = parseSse(
      await (await post(`${models.baseUrls.openai}/chat/completions`, { ...request, stream: true, stream_options: { include_usage: true } })).text(),
    );
    const withoutUsage = parseSse(await (await post(`${models.baseUrls.openai}/chat/completions`, { ...request, stream: true })).text());

    const chatUsage = {
      prompt_tokens: 11 + 33 + 44,
      completion_tokens: 22,
      total_tokens: 11 + 33 + 44 + 22,
      prompt_tokens_details: { cached_tokens: 33, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    };
    expect(plain).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Writing it.',
            tool_calls: [{ id: 'call_scripted_1_0', type: 'function', function: { name: 'write_file', arguments: '{"path":"a.txt","content":"x"}' } }],
          },
        },
      ],
      usage: chatUsage,
    });

    for (const events of [withUsage, withoutUsage]) {
      expect(events.every((event) => event.event === undefined)).toBe(true);
      expect(events.at(-1)?.data).toBe('[DONE]');
    }
    const chunks = withUsage.slice(0, -1).map((event) => JSON.parse(event.data) as Record<string, any>);
    expect(chunks.every((chunk) => chunk['object'] === 'chat.completion.chunk')).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: chatUsage });
    expect(chunks.slice(0, -1).every((chunk) => chunk['usage'] === null)).toBe(true);
    expect(withoutUsage.slice(0, -1).some((event) => 'usage' in (JSON.parse(event.data) as object))).toBe(false);

    // Assembled as a client does: content joined, tool calls gathered by index.
    let content = '';
    const calls: { id?: string; type?: string; function: { name?: string; arguments: string } }[] = [];
    let finish: string | null = null;
    for (const chunk of chunks) {
      const choice = chunk['choices'][0];
      if (choice === undefined) continue;
      content += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        const entry = (calls[call.index] ??= { function: { arguments: '' } });
        if (call.id !== undefined)
          Object.assign(entry, { id: call.id, type: call.type, function: { name: call.function.name, arguments: entry.function.arguments } });
        entry.function.arguments += call.function.arguments ?? '';
      }
      finish = choice.finish_reason ?? finish;
    }
    expect({ content, tool_calls: calls, finish }).toEqual({
      content: plain['choices'][0].message.content,
      tool_calls: plain['choices'][0].message.tool_calls.map((call: { id: string }) => ({ ...call, id: call.id.replace('_1_', '_2_') })),
      finish: 'tool_calls',
    });
  });

  it('answers errors in its error shape', async () => {
    const models = await scripted({ chat: [{ status: 429, message: 'Slow down' }] });
    const response = await post(`${models.baseUrls.openai}/chat/completions`, request);
    expect(response.status).toBe(429);
    expect(response.headers.get('x-should-retry')).toBeNull();
    expect(await response.json()).toEqual({ error: { message: 'Slow down', type: 'rate_limit_exceeded', param: null, code: null } });
  });
});

describe('the OpenAI Responses API', () => {
  it('streams the same response it answers unstreamed, a custom tool as a custom_tool_call', async () => {
    const answer = {
      text: 'Patching.',
      toolCalls: [
        { name: 'apply_patch', input: '*** Begin Patch\n*** End Patch\n' },
        { name: 'exec_command', input: { cmd: 'ls' } },
      ],
      usage,
    };
    const models = await scripted({ responses: [answer, answer] });
    const request = {
      model: 'gpt-test',
      input: [],
      tools: [
        { type: 'custom', name: 'apply_patch', format: { type: 'grammar' } },
        { type: 'function', name: 'exec_command', parameters: {} },
      ],
    };
    const plain = (await (await post(`${models.baseUrls.openai}/responses`, request)).json()) as Record<string, any>;
    const events = parseSse(await (await post(`${models.baseUrls.openai}/responses`, { ...request, stream: true })).text());

    expect(plain).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'gpt-test',
      output: [
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Patching.', annotations: [] }] },
        { type: 'custom_tool_call', call_id: 'call_scripted_1_0', name: 'apply_patch', input: '*** Begin Patch\n*** End Patch\n' },
        { type: 'function_call', call_id: 'call_scripted_1_1', name: 'exec_command', arguments: '{"cmd":"ls"}' },
      ],
      usage: {
        input_tokens: 11 + 33 + 44,
        input_tokens_details: { cached_tokens: 33 },
        output_tokens: 22,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 110,
      },
    });

    const payloads = events.map((event) => JSON.parse(event.data) as Record<string, any>);
    expect(payloads.map((payload) => payload['sequence_number'])).toEqual(payloads.map((_, index) => index));
    expect(events.every((event, index) => event.event === payloads[index]?.['type'])).toBe(true);
    expect(payloads[0]?.['type']).toBe('response.created');
    const completed = payloads.at(-1);
    expect(completed?.['type']).toBe('response.completed');
    expect(completed?.['response'].usage).toEqual(plain['usage']);

    // Assembled as a client does: items from output_item.done, deltas joined per item.
    const done = payloads.filter((payload) => payload['type'] === 'response.output_item.done').map((payload) => payload['item']);
    const joined = (type: string, itemId: string) =>
      payloads
        .filter((payload) => payload['type'] === type && payload['item_id'] === itemId)
        .map((payload) => payload['delta'])
        .join('');
    expect(joined('response.output_text.delta', done[0].id)).toBe('Patching.');
    expect(joined('response.custom_tool_call_input.delta', done[1].id)).toBe(done[1].input);
    expect(joined('response.function_call_arguments.delta', done[2].id)).toBe(done[2].arguments);
    const renumbered = (items: { id: string; call_id?: string }[]) =>
      items.map((item) => ({ ...item, id: item.id.replace(/_\d+(_\d+)?$/, ''), call_id: item.call_id?.replace(/_\d+_/, '_') }));
    expect(renumbered(done)).toEqual(renumbered(plain['output']));
    expect(renumbered(completed?.['response'].output)).toEqual(renumbered(plain['output']));
  });
});

describe('the script', () => {
  it('answers side calls without taking a turn, and records every request with its role', async () => {
    const models = await scripted({ anthropic: [{ text: 'the turn', usage }] });
    const head = await fetch(`${models.baseUrls.anthropic}/api/hello`, { method: 'HEAD' });
    const title = (await (await post(`${models.baseUrls.anthropic}/v1/messages?beta=true`, { model: 'claude-haiku', messages: [] })).json()) as Record<
      string,
      any
    >;
    const counted = (await (
      await post(`${models.baseUrls.anthropic}/v1/messages/count_tokens`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] })
    ).json()) as Record<string, unknown>;
    const turn = (await (
      await post(
        `${models.baseUrls.anthropic}/v1/messages`,
        { model: 'm', tools: [tool], messages: [] },
        { headers: { 'x-api-key': 'k', 'content-type': 'application/json' } },
      )
    ).json()) as Record<string, any>;
    const unknown = await fetch(`${models.baseUrls.anthropic}/v2/other`);

    expect(head.status).toBe(200);
    expect(title['content']).toEqual([{ type: 'text', text: 'scripted side call' }]);
    expect(counted['input_tokens']).toBeGreaterThan(0);
    expect(turn['content']).toEqual([{ type: 'text', text: 'the turn' }]);
    expect(unknown.status).toBe(404);
    expect(models.requests.map((request) => [request.role, request.api, request.method, request.path, request.query])).toEqual([
      ['side-call', null, 'HEAD', '/api/hello', ''],
      ['side-call', 'anthropic', 'POST', '/v1/messages', '?beta=true'],
      ['side-call', null, 'POST', '/v1/messages/count_tokens', ''],
      ['turn', 'anthropic', 'POST', '/v1/messages', ''],
      ['unscripted', null, 'GET', '/v2/other', ''],
    ]);
    expect(models.turns('anthropic')[0]?.headers['x-api-key']).toBe('k');
    expect(models.sideCalls()).toHaveLength(3);
  });

  it('answers a model call past the last turn with a non-retryable 400 naming the API and turn', async () => {
    const models = await scripted({ responses: [{ text: 'only', usage }] });
    await post(`${models.baseUrls.openai}/responses`, { model: 'm', tools: [{ type: 'function', name: 'f' }], input: [] });
    const extra = await post(`${models.baseUrls.openai}/responses`, { model: 'm', tools: [{ type: 'function', name: 'f' }], input: [] });
    expect(extra.status).toBe(400);
    expect(extra.headers.get('x-should-retry')).toBe('false');
    expect(((await extra.json()) as { error: { message: string } }).error.message).toBe('scripted-models: the script has no responses turn 2 (it has 1)');
    expect(models.requests.map((request) => request.role)).toEqual(['turn', 'unscripted']);
  });

  it('uses the given side-call rule', async () => {
    const models = await scripted({ chat: [{ text: 'turn', usage }], isSideCall: (request) => request.body?.['model'] === 'small' });
    const side = (await (await post(`${models.baseUrls.openai}/chat/completions`, { model: 'small', messages: [] })).json()) as Record<string, any>;
    const turn = (await (await post(`${models.baseUrls.openai}/chat/completions`, { model: 'big', messages: [] })).json()) as Record<string, any>;
    expect([side['choices'][0].message.content, turn['choices'][0].message.content]).toEqual(['scripted side call', 'turn']);
  });

  it('refuses a turn with neither text nor tool calls, and a string tool input outside the Responses API', async () => {
    await expect(startScriptedModels({ chat: [{ usage }] })).rejects.toThrow('scripted-models: chat turn 1 needs text or tool calls');
    await expect(startScriptedModels({ anthropic: [{ toolCalls: [{ name: 'apply_patch', input: 'patch' }], usage }] })).rejects.toThrow(
      'a string tool input (a freeform tool) exists only in the Responses API',
    );
  });

  it('records a CONNECT from a client that uses it as its proxy, and refuses it', async () => {
    const models = await scripted({});
    const { port } = new URL(models.proxyUrl);
    const statusCode = await new Promise<number | undefined>((resolve, reject) => {
      const connect = httpRequest({ host: '127.0.0.1', port, method: 'CONNECT', path: 'api.example.com:443' });
      connect.on('connect', (response, socket) => {
        socket.destroy();
        resolve(response.statusCode);
      });
      connect.on('error', reject);
      connect.end();
    });
    expect(statusCode).toBe(403);
    expect(models.requests.map((request) => [request.role, request.method, request.path])).toEqual([['unscripted', 'CONNECT', 'api.example.com:443']]);
  });
});

/** The real setTimeout, for waiting on the machine while the fake clock stands still (vi.waitFor moves it). */
const realSetTimeout = globalThis.setTimeout;

async function untilReally(condition: () => boolean, what: string): Promise<void> {
  for (let wait = 0; !condition(); wait++) {
    if (wait >= 2_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => realSetTimeout(resolve, 5));
  }
}

describe('pacing', () => {
  const request = { model: 'm', tools: [tool], messages: [], stream: true };

  it('waits before the first byte and between events', async () => {
    const models = await scripted({ anthropic: [{ text: 'slowly', usage, firstByteDelayMs: 150, chunkDelayMs: 20 }] });
    // The server paces its answer with timers: on vitest's fake clock, moved here one step at a time
    // (and only once the client has what the last step sent), each event arrives at an exact time of
    // that clock, however slow the machine.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const started = Date.now();
      let headersAt: number | undefined;
      const arrivals: number[] = [];
      let text = '';
      const reading = (async () => {
        const response = await post(`${models.baseUrls.anthropic}/v1/messages`, request);
        headersAt = Date.now() - started;
        const decoder = new TextDecoder();
        for await (const chunk of response.body!) {
          text += decoder.decode(chunk as Uint8Array, { stream: true });
          while (arrivals.length < text.split('\n\n').length - 1) arrivals.push(Date.now() - started);
        }
      })();
      // The request is in and its answer waits on the clock.
      await untilReally(() => models.requests.length === 1, 'the request');
      await vi.advanceTimersByTimeAsync(149);
      expect([headersAt, arrivals]).toEqual([undefined, []]);
      await vi.advanceTimersByTimeAsync(1);
      await untilReally(() => arrivals.length === 1, 'the first event');
      // message_start, ping, block start, 3 deltas, stop, message_delta, message_stop: 8 gaps.
      for (let gap = 1; gap <= 8; gap++) {
        await vi.advanceTimersByTimeAsync(19);
        expect(arrivals).toHaveLength(gap);
        await vi.advanceTimersByTimeAsync(1);
        await untilReally(() => arrivals.length === gap + 1, `event ${gap + 1}`);
      }
      await reading;
      expect(headersAt).toBe(150);
      expect(arrivals).toEqual(Array.from({ length: 9 }, (_, index) => 150 + 20 * index));
      expect(parseSse(text)).toHaveLength(9);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never answers a stalled turn, and holds a mid-stream stall after the first event', async () => {
    const models = await scripted({
      anthropic: [
        { text: 'never', usage, stall: 'before-response' },
        { text: 'half', usage, stall: 'mid-stream' },
      ],
    });
    await expect(post(`${models.baseUrls.anthropic}/v1/messages`, request, { signal: AbortSignal.timeout(300) })).rejects.toThrow(/aborted|timeout/i);

    const controller = new AbortController();
    const response = await post(`${models.baseUrls.anthropic}/v1/messages`, request, { signal: controller.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(parseSse(first).map((event) => event.event)).toEqual(['message_start']);
    const next = await Promise.race([reader.read().then(() => 'more'), new Promise((resolve) => setTimeout(() => resolve('held'), 300))]);
    expect(next).toBe('held');
    controller.abort();
    expect(models.turns('anthropic')).toHaveLength(2);
  });
});

function dropUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined));
}
