import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { ModelUsage } from './model-usage.ts';
import { createUsageMeter, MAX_METERED_BODY_BYTES, type MeteredApi, type UsageMeterResult } from './usage-meter.ts';
import { withStreamUsage } from './usage-meter-stream-options.ts';

// Fixtures in the providers' wire format, byte for byte as they send it (compact JSON, `event:`
// then `data:`, a blank line after each event). The text deltas carry multi-byte characters so
// that cutting the bytes anywhere also cuts characters.

const anthropicStream = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":1024,"cache_read_input_tokens":2048,"cache_creation":{"ephemeral_5m_input_tokens":1024,"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Grüße — 你好 🌍"}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" and \\"usage\\":{} in text"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":0}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":315}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');

const anthropicBody = JSON.stringify({
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Grüße — 你好 🌍' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 472,
    cache_creation_input_tokens: 1024,
    cache_read_input_tokens: 2048,
    cache_creation: { ephemeral_5m_input_tokens: 1024, ephemeral_1h_input_tokens: 0 },
    output_tokens: 315,
    service_tier: 'standard',
  },
});

const anthropicUsage: ModelUsage = { inputTokens: 472, outputTokens: 315, cacheReadTokens: 2048, cacheWriteTokens: 1024 };

const chatChunk = (rest: string): string =>
  `data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8",${rest}}\n\n`;

const chatUsageJson =
  '{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}';

const chatStream = [
  chatChunk('"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null'),
  chatChunk('"choices":[{"index":0,"delta":{"content":"Grüße — 你好 🌍"},"logprobs":null,"finish_reason":null}],"usage":null'),
  chatChunk('"choices":[{"index":0,"delta":{"content":" said \\"usage\\":{}"},"logprobs":null,"finish_reason":null}],"usage":null'),
  chatChunk('"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null'),
  chatChunk(`"choices":[],"usage":${chatUsageJson}`),
  'data: [DONE]\n\n',
].join('');

const chatBody = JSON.stringify({
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
  object: 'chat.completion',
  created: 1741570283,
  model: 'gpt-4o-2024-08-06',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Grüße — 你好 🌍', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
  usage: JSON.parse(chatUsageJson) as unknown,
  service_tier: 'default',
  system_fingerprint: 'fp_eb9dce56a8',
});

const chatUsage: ModelUsage = { inputTokens: 93, outputTokens: 46, cacheReadTokens: 1024, cacheWriteTokens: 0 };

const responsesUsageJson =
  '{"input_tokens":2006,"input_tokens_details":{"cached_tokens":1920},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":128},"total_tokens":2306}';
const responseObject = (status: string, output: string, usage: string): string =>
  `{"id":"resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41","object":"response","created_at":1741476777,"status":"${status}","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"o4-mini-2025-04-16","output":${output},"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":"medium","summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":${usage},"user":null,"metadata":{}}`;
const responsesOutput =
  '[{"id":"rs_1","type":"reasoning","summary":[]},{"id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Grüße — 你好 🌍","annotations":[]}]}]';

const responsesStream = [
  'event: response.created',
  `data: {"type":"response.created","sequence_number":0,"response":${responseObject('in_progress', '[]', 'null')}}`,
  '',
  'event: response.in_progress',
  `data: {"type":"response.in_progress","sequence_number":1,"response":${responseObject('in_progress', '[]', 'null')}}`,
  '',
  'event: response.output_item.added',
  'data: {"type":"response.output_item.added","sequence_number":2,"output_index":1,"item":{"id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","type":"message","status":"in_progress","role":"assistant","content":[]}}',
  '',
  'event: response.content_part.added',
  'data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}',
  '',
  'event: response.output_text.delta',
  'data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","output_index":1,"content_index":0,"delta":"Grüße — 你好 🌍","logprobs":[]}',
  '',
  'event: response.output_text.done',
  'data: {"type":"response.output_text.done","sequence_number":5,"item_id":"msg_67ccd3acc8d48190a77525dc6de64b4104becb25c45c1d41","output_index":1,"content_index":0,"text":"Grüße — 你好 🌍","logprobs":[]}',
  '',
  'event: response.completed',
  `data: {"type":"response.completed","sequence_number":6,"response":${responseObject('completed', responsesOutput, responsesUsageJson)}}`,
  '',
  '',
].join('\n');

const responsesBody = responseObject('completed', responsesOutput, responsesUsageJson);

const responsesUsage: ModelUsage = { inputTokens: 86, outputTokens: 300, cacheReadTokens: 1920, cacheWriteTokens: 0 };

interface Fixture {
  api: MeteredApi;
  stream: boolean;
  text: string;
  usage: ModelUsage;
  model: string;
}

const fixtures: Fixture[] = [
  { api: 'anthropic-messages', stream: true, text: anthropicStream, usage: anthropicUsage, model: 'claude-sonnet-4-5-20250929' },
  { api: 'anthropic-messages', stream: false, text: anthropicBody, usage: anthropicUsage, model: 'claude-sonnet-4-5-20250929' },
  { api: 'openai-chat', stream: true, text: chatStream, usage: chatUsage, model: 'gpt-4o-2024-08-06' },
  { api: 'openai-chat', stream: false, text: chatBody, usage: chatUsage, model: 'gpt-4o-2024-08-06' },
  { api: 'openai-responses', stream: true, text: responsesStream, usage: responsesUsage, model: 'o4-mini-2025-04-16' },
  { api: 'openai-responses', stream: false, text: responsesBody, usage: responsesUsage, model: 'o4-mini-2025-04-16' },
];

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

function meter(api: MeteredApi, stream: boolean, ...pieces: (string | Uint8Array)[]): UsageMeterResult {
  const usageMeter = createUsageMeter(api, stream);
  for (const piece of pieces) usageMeter.push(typeof piece === 'string' ? encode(piece) : piece);
  return usageMeter.finish();
}

/** Feeds `bytes` cut at the given offsets; each cut is a fresh copy, as the network gives them. */
function meterCut(fixture: Fixture, bytes: Uint8Array, cuts: readonly number[]): UsageMeterResult {
  const usageMeter = createUsageMeter(fixture.api, fixture.stream);
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    usageMeter.push(bytes.slice(start, cut));
    start = cut;
  }
  usageMeter.push(bytes.slice(start));
  return usageMeter.finish();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(fixtures)('$api, stream: $stream', (fixture) => {
  const bytes = encode(fixture.text);

  test('reads the usage and model in one piece', () => {
    const result = meter(fixture.api, fixture.stream, bytes);
    expect(result).toMatchObject({ usage: fixture.usage, model: fixture.model });
    expect(result.problem).toBeUndefined();
  });

  test('reads the same fed byte by byte', () => {
    const cuts = Array.from({ length: bytes.length - 1 }, (_, index) => index + 1);
    expect(meterCut(fixture, bytes, cuts)).toMatchObject({ usage: fixture.usage, model: fixture.model });
  });

  test('reads the same cut in two at every offset', () => {
    for (let offset = 0; offset <= bytes.length; offset += 1) {
      const result = meterCut(fixture, bytes, [offset]);
      if (result.usage === undefined || result.model !== fixture.model) expect.fail(`cut at ${offset}: ${JSON.stringify(result)}`);
      expect(result.usage).toEqual(fixture.usage);
    }
  });

  test('property: reads the same at any cut points', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), (cuts) => {
        expect(meterCut(fixture, bytes, cuts)).toMatchObject({ usage: fixture.usage, model: fixture.model });
      }),
      { numRuns: 300 },
    );
  });

  test('reads the same with CRLF line ends', () => {
    const crlf = fixture.stream ? fixture.text.replaceAll('\n', '\r\n') : fixture.text;
    expect(meter(fixture.api, fixture.stream, crlf)).toMatchObject({ usage: fixture.usage, model: fixture.model });
  });

  test('finish is stable, and bytes after it change nothing', () => {
    const usageMeter = createUsageMeter(fixture.api, fixture.stream);
    usageMeter.push(bytes);
    const first = usageMeter.finish();
    usageMeter.push(encode('garbage'));
    expect(usageMeter.finish()).toBe(first);
  });
});

describe('first token time', () => {
  test.each(fixtures.filter((fixture) => fixture.stream))('$api: the moment the first content delta passed, not the stream start', (fixture) => {
    // Everything before the first delta event, then the rest.
    const firstDelta = fixture.text.search(/event: (content_block_delta|response\.output_text\.delta)|"content":"G/);
    const eventStart = fixture.text.lastIndexOf('\n\n', firstDelta) + 2;
    const usageMeter = createUsageMeter(fixture.api, true);
    usageMeter.push(encode(fixture.text.slice(0, eventStart)));
    const before = performance.now();
    usageMeter.push(encode(fixture.text.slice(eventStart)));
    const after = performance.now();
    const { firstTokenAt } = usageMeter.finish();
    expect(firstTokenAt).toBeGreaterThanOrEqual(before);
    expect(firstTokenAt).toBeLessThanOrEqual(after);
  });

  test('the chat role chunk, with empty content, is not a token', () => {
    const roleOnly = chatStream.split('\n\n')[0]! + '\n\n';
    expect(meter('openai-chat', true, roleOnly).firstTokenAt).toBeUndefined();
  });

  test('a chat tool call is a first token', () => {
    const toolCall = chatChunk(
      '"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null',
    );
    expect(meter('openai-chat', true, toolCall).firstTokenAt).toBeTypeOf('number');
  });

  test.each(fixtures.filter((fixture) => !fixture.stream))('$api body: none, since a body has no deltas', (fixture) => {
    expect(meter(fixture.api, false, fixture.text)).not.toHaveProperty('firstTokenAt');
  });
});

describe('cost per chunk', () => {
  // The meter sits on every streamed byte: events that cannot carry usage must not be parsed.
  const manyDeltas = (count: number, event: (index: number) => string): string => Array.from({ length: count }, (_, index) => event(index)).join('');

  test('anthropic: parses message_start and message_delta only', () => {
    const [head, tail] = [
      anthropicStream.slice(0, anthropicStream.indexOf('event: content_block_delta')),
      anthropicStream.slice(anthropicStream.indexOf('event: content_block_stop')),
    ];
    const deltas = manyDeltas(
      500,
      (index) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"token ${index}"}}\n\n`,
    );
    const parse = vi.spyOn(JSON, 'parse');
    const result = meter('anthropic-messages', true, head, deltas, tail);
    expect(result.usage).toEqual(anthropicUsage);
    expect(parse).toHaveBeenCalledTimes(2);
  });

  test('chat: parses chunks up to the first token, then only the usage chunk', () => {
    const deltas = manyDeltas(500, (index) =>
      chatChunk(`"choices":[{"index":0,"delta":{"content":"token ${index}"},"logprobs":null,"finish_reason":null}],"usage":null`),
    );
    const parse = vi.spyOn(JSON, 'parse');
    const result = meter(
      'openai-chat',
      true,
      chatStream.slice(0, chatStream.indexOf('data: ', 10)),
      deltas,
      chatChunk(`"choices":[],"usage":${chatUsageJson}`),
      'data: [DONE]\n\n',
    );
    expect(result.usage).toEqual(chatUsage);
    expect(parse).toHaveBeenCalledTimes(3);
  });

  test('responses: parses response.created and the terminal event only', () => {
    const cut = responsesStream.indexOf('event: response.output_text.done');
    const deltas = manyDeltas(
      500,
      (index) =>
        `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":${index + 5},"item_id":"msg_1","output_index":1,"content_index":0,"delta":"token ${index}","logprobs":[]}\n\n`,
    );
    const parse = vi.spyOn(JSON, 'parse');
    const result = meter('openai-responses', true, responsesStream.slice(0, cut), deltas, responsesStream.slice(cut));
    expect(result.usage).toEqual(responsesUsage);
    expect(parse).toHaveBeenCalledTimes(2);
  });
});

describe('usage semantics', () => {
  test('anthropic: the latest non-null of each field wins when message_delta repeats input and cache counts', () => {
    const stream = anthropicStream.replace(
      '"usage":{"output_tokens":315}',
      '"usage":{"input_tokens":480,"cache_creation_input_tokens":null,"cache_read_input_tokens":2000,"output_tokens":315,"server_tool_use":{"web_search_requests":1}}',
    );
    expect(meter('anthropic-messages', true, stream).usage).toEqual({ inputTokens: 480, outputTokens: 315, cacheReadTokens: 2000, cacheWriteTokens: 1024 });
  });

  test('anthropic: output_tokens is cumulative, so the last message_delta counts, not their sum', () => {
    const stream = anthropicStream.replace(
      'event: message_delta',
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":100}}\n\nevent: message_delta',
    );
    expect(meter('anthropic-messages', true, stream).usage).toEqual(anthropicUsage);
  });

  test('anthropic: no cache fields (an older API version) is zero cache, not unknown', () => {
    const body = JSON.stringify({ type: 'message', model: 'claude-3-haiku-20240307', usage: { input_tokens: 10, output_tokens: 5 } });
    expect(meter('anthropic-messages', false, body).usage).toEqual({ inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 });
  });

  test('chat: a response without prompt_tokens_details has no cached tokens', () => {
    const body = JSON.stringify({
      object: 'chat.completion',
      model: 'gpt-3.5-turbo-0125',
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    });
    expect(meter('openai-chat', false, body).usage).toEqual({ inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 });
  });

  test('responses: an incomplete response (cut at max_output_tokens) still used and reports its tokens', () => {
    const stream = responsesStream
      .replaceAll('response.completed', 'response.incomplete')
      .replace('"status":"completed","error"', '"status":"incomplete","error"');
    expect(meter('openai-responses', true, stream)).toMatchObject({ usage: responsesUsage, model: 'o4-mini-2025-04-16' });
  });

  test('an event without an event line is recognised by its type', () => {
    const stream = anthropicStream.replaceAll(/^event: .*\n/gm, '');
    expect(meter('anthropic-messages', true, stream).usage).toEqual(anthropicUsage);
    const responses = responsesStream.replaceAll(/^event: .*\n/gm, '');
    expect(meter('openai-responses', true, responses).usage).toEqual(responsesUsage);
  });

  test('comments, id and retry lines are ignored', () => {
    const stream = `: keep-alive\n\nretry: 1000\n\n${anthropicStream.replace('event: ping', ': a comment line\nid: 7\nevent: ping')}`;
    expect(meter('anthropic-messages', true, stream).usage).toEqual(anthropicUsage);
  });

  test('a stream cut just before its final blank line is still read', () => {
    expect(meter('openai-responses', true, responsesStream.trimEnd()).usage).toEqual(responsesUsage);
    expect(meter('anthropic-messages', true, anthropicStream.slice(0, anthropicStream.indexOf('event: message_stop')).trimEnd()).usage).toEqual(anthropicUsage);
  });
});

describe('missing or malformed usage is unknown, with the reason', () => {
  const cases: [string, MeteredApi, boolean, string, RegExp][] = [
    ['chat stream without include_usage', 'openai-chat', true, chatStream.replace(/data: \{[^\n]*"choices":\[\],"usage":\{[^\n]*\n\n/, ''), /include_usage/],
    [
      'anthropic stream cut before message_delta',
      'anthropic-messages',
      true,
      anthropicStream.slice(0, anthropicStream.indexOf('event: message_delta')),
      /before a message_delta.*output_tokens/,
    ],
    [
      'anthropic stream without message_start',
      'anthropic-messages',
      true,
      anthropicStream.slice(anthropicStream.indexOf('event: content_block_start')),
      /no message_start/,
    ],
    [
      'responses stream cut before its terminal event',
      'openai-responses',
      true,
      responsesStream.slice(0, responsesStream.indexOf('event: response.completed')),
      /before response\.completed/,
    ],
    ['empty stream', 'openai-chat', true, '', /no chunk with usage/],
    ['empty body', 'anthropic-messages', false, '', /empty/],
    ['body that is not JSON', 'openai-chat', false, '<html>502 Bad Gateway</html>', /not a JSON object/],
    ['truncated body', 'openai-responses', false, responsesBody.slice(0, -20), /not a JSON object/],
    [
      'anthropic error body',
      'anthropic-messages',
      false,
      '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
      /overloaded_error: Overloaded/,
    ],
    [
      'openai error body',
      'openai-chat',
      false,
      '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}',
      /requests: Rate limit reached/,
    ],
    [
      'anthropic error event mid-stream',
      'anthropic-messages',
      true,
      `${anthropicStream.slice(0, anthropicStream.indexOf('event: message_delta'))}event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n`,
      /error event \(overloaded_error: Overloaded\)/,
    ],
    [
      'responses failed without usage',
      'openai-responses',
      true,
      `event: response.failed\ndata: {"type":"response.failed","sequence_number":3,"response":{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed"},"model":"o4-mini-2025-04-16","output":[],"usage":null}}\n\n`,
      /server_error: The model failed/,
    ],
    [
      'output_tokens as text',
      'anthropic-messages',
      false,
      anthropicBody.replace('"output_tokens":315', '"output_tokens":"315"'),
      /output_tokens is the string "315", not a token count/,
    ],
    ['negative prompt_tokens', 'openai-chat', false, chatBody.replace('"prompt_tokens":1117', '"prompt_tokens":-1'), /prompt_tokens is -1/],
    ['fractional output tokens', 'openai-responses', false, responsesBody.replace('"output_tokens":300', '"output_tokens":300.5'), /output_tokens is 300\.5/],
    ['missing input_tokens', 'anthropic-messages', true, anthropicStream.replace('"input_tokens":472,', ''), /no input_tokens/],
    [
      'cached tokens above the prompt',
      'openai-chat',
      true,
      chatStream.replace('"cached_tokens":1024', '"cached_tokens":2000'),
      /cached_tokens \(2000\) exceeds prompt_tokens \(1117\)/,
    ],
    ['usage that is not an object', 'openai-responses', false, responsesBody.replace(responsesUsageJson, '[1,2]'), /is an array, not an object/],
    ['malformed message_start', 'anthropic-messages', true, anthropicStream.replace('"model":"claude', '"model":claude'), /message_start event is not JSON/],
  ];

  test.each(cases)('%s', (_name, api, stream, text, problem) => {
    const result = meter(api, stream, text);
    expect(result.usage).toBeUndefined();
    expect(result.problem).toMatch(problem);
  });
});

describe('size bounds', () => {
  const mebibyte = 1024 * 1024;

  test('a body over the bound is not read, and says so; one within it is', () => {
    const spaces = new Uint8Array(mebibyte).fill(0x20);
    const over = createUsageMeter('openai-chat', false);
    over.push(encode(chatBody));
    for (let sent = 0; sent < MAX_METERED_BODY_BYTES; sent += mebibyte) over.push(spaces);
    expect(over.finish()).toEqual({ usage: undefined, model: undefined, problem: expect.stringMatching(/exceeds the 67108864 bytes/) });

    const within = createUsageMeter('openai-chat', false);
    within.push(encode(chatBody));
    for (let sent = 0; sent < MAX_METERED_BODY_BYTES - 2 * mebibyte; sent += mebibyte) within.push(spaces);
    expect(within.finish().usage).toEqual(chatUsage);
  });

  test('a stream with huge content events is still measured (they are skipped, not kept)', () => {
    const big = 'x'.repeat(8 * mebibyte);
    const cut = anthropicStream.indexOf('event: content_block_stop');
    const hugeDelta = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${big}"}}\n\n`;
    const bytes = encode(hugeDelta);
    const usageMeter = createUsageMeter('anthropic-messages', true);
    usageMeter.push(encode(anthropicStream.slice(0, cut)));
    for (let start = 0; start < bytes.length; start += 65_536) usageMeter.push(bytes.subarray(start, start + 65_536));
    usageMeter.push(encode(anthropicStream.slice(cut)));
    expect(usageMeter.finish().usage).toEqual(anthropicUsage);
  });

  test('a usage event over the bound is not read, and says so', () => {
    const usageMeter = createUsageMeter('openai-responses', true);
    usageMeter.push(encode('event: response.completed\ndata: {"type":"response.completed","response":{"usage":'));
    const spaces = new Uint8Array(mebibyte).fill(0x20);
    for (let sent = 0; sent <= MAX_METERED_BODY_BYTES; sent += mebibyte) usageMeter.push(spaces);
    usageMeter.push(encode(`${responsesUsageJson}}}\n\n`));
    const result = usageMeter.finish();
    expect(result.usage).toBeUndefined();
    expect(result.problem).toMatch(/response\.completed event exceeded 67108864 bytes/);
  });
});

describe('withStreamUsage', () => {
  test('asks a streamed chat request for usage, keeping the rest of the body and its stream options', () => {
    const body = { model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }], stream_options: { include_obfuscation: false } };
    expect(withStreamUsage(body)).toEqual({ ...body, stream_options: { include_obfuscation: false, include_usage: true } });
    expect(body.stream_options).toEqual({ include_obfuscation: false });
  });

  test('overrides a client that turned usage off', () => {
    expect(withStreamUsage({ stream: true, stream_options: { include_usage: false } })).toEqual({ stream: true, stream_options: { include_usage: true } });
  });

  test('leaves a request that does not stream, or already asks, as it is', () => {
    const plain = { model: 'gpt-4o', messages: [] };
    expect(withStreamUsage(plain)).toBe(plain);
    const asking = { stream: true, stream_options: { include_usage: true } };
    expect(withStreamUsage(asking)).toBe(asking);
  });
});
