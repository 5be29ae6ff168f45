// The ATIF builder over bodies the repo's scripted model endpoints really sent, in each of the
// three wire formats the gateway meters, streamed and whole: an agent loop of two turns (a tool
// call, its result, a last answer) with a side call between them; every document it builds
// passes the ATIF-v1.4 schema (atif-schema/), and a malformed one does not.
import type { ModelCallData } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import { startScriptedModels, type ScriptedApi, type ScriptedModels, type ScriptedUsage } from '../../gateway/scripted-models.test-support.ts';
import { atifProblems } from './atif-schema.test-support.ts';
import { atifSchemaVersion, buildAtifTrajectory, type RecordedModelCall } from './atif-trajectory.ts';

const open: ScriptedModels[] = [];
afterEach(async () => {
  for (const models of open.splice(0)) await models.close();
});

const model = 'scripted-model-1';
const first: ScriptedUsage = { inputTokens: 100, outputTokens: 20, cacheReadTokens: 40, cacheWriteTokens: 10 };
const second: ScriptedUsage = { inputTokens: 130, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 };
const system = 'You are a careful agent.';
const prompt = 'Write a.txt saying hello.';
const writeInput = { path: 'a.txt', content: 'hello\n' };

interface WireFormat {
  readonly api: ModelCallData['api'];
  readonly scripted: ScriptedApi;
  readonly path: string;
  /** The first request of the loop (system prompt, user prompt, one tool). */
  first(stream: boolean): Record<string, unknown>;
  /** The second: the first's history, the model's tool call as it was answered, and its result. */
  second(stream: boolean, callId: string): Record<string, unknown>;
  /** A side call: another conversation, no tools. */
  side(stream: boolean): Record<string, unknown>;
  /** The tool call id the scripted endpoints give the first answer's call (request 1, call 0). */
  readonly callId: string;
}

const anthropicTool = { name: 'write_file', description: 'Writes a file', input_schema: { type: 'object' } };
const chatTool = { type: 'function', function: { name: 'write_file', parameters: { type: 'object' } } };
const responsesTool = { type: 'function', name: 'write_file', parameters: { type: 'object' } };

const formats: readonly WireFormat[] = [
  {
    api: 'anthropic-messages',
    scripted: 'anthropic',
    path: '/v1/messages',
    callId: 'toolu_scripted_1_0',
    first: (stream) => ({ model, stream, max_tokens: 100, system, tools: [anthropicTool], messages: [{ role: 'user', content: prompt }] }),
    second: (stream, callId) => ({
      model,
      stream,
      max_tokens: 100,
      system: [{ type: 'text', text: system, cache_control: { type: 'ephemeral' } }],
      tools: [anthropicTool],
      messages: [
        { role: 'user', content: prompt },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Writing it.' },
            { type: 'tool_use', id: callId, name: 'write_file', input: writeInput },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: callId, content: 'wrote a.txt' }] },
      ],
    }),
    side: (stream) => ({ model, stream, max_tokens: 10, messages: [{ role: 'user', content: 'A title for this chat?' }] }),
  },
  {
    api: 'openai-chat',
    scripted: 'chat',
    path: '/v1/chat/completions',
    callId: 'call_scripted_1_0',
    first: (stream) => ({
      model,
      stream,
      tools: [chatTool],
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: prompt },
      ],
    }),
    second: (stream, callId) => ({
      model,
      stream,
      tools: [chatTool],
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: [{ type: 'text', text: prompt }] },
        {
          role: 'assistant',
          content: 'Writing it.',
          tool_calls: [{ id: callId, type: 'function', function: { name: 'write_file', arguments: JSON.stringify(writeInput) } }],
        },
        { role: 'tool', tool_call_id: callId, content: 'wrote a.txt' },
      ],
    }),
    side: (stream) => ({ model, stream, messages: [{ role: 'user', content: 'A title for this chat?' }] }),
  },
  {
    api: 'openai-responses',
    scripted: 'responses',
    path: '/v1/responses',
    callId: 'call_scripted_1_0',
    first: (stream) => ({ model, stream, instructions: system, tools: [responsesTool], input: [{ role: 'user', content: prompt }] }),
    second: (stream, callId) => ({
      model,
      stream,
      instructions: system,
      tools: [responsesTool],
      input: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: prompt }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Writing it.' }] },
        { type: 'function_call', call_id: callId, name: 'write_file', arguments: JSON.stringify(writeInput) },
        { type: 'function_call_output', call_id: callId, output: 'wrote a.txt' },
      ],
    }),
    side: (stream) => ({ model, stream, input: 'A title for this chat?' }),
  },
];

/** Sends `body` to the scripted endpoint and records it as the gateway would: a model.called entry and both bodies. */
async function call(models: ScriptedModels, format: WireFormat, body: Record<string, unknown>, seq: number, usage: ScriptedUsage): Promise<RecordedModelCall> {
  const base = format.scripted === 'anthropic' ? models.baseUrls.anthropic : models.baseUrls.openai.replace(/\/v1$/, '');
  const requestBytes = new TextEncoder().encode(JSON.stringify(body));
  const response = await fetch(`${base}${format.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: requestBytes });
  expect(response.status).toBe(200);
  const answer = new Uint8Array(await response.arrayBuffer());
  const data: ModelCallData = {
    api: format.api,
    attempt: 1,
    itemId: 'write',
    provider: format.scripted === 'anthropic' ? 'anthropic' : 'openai',
    model,
    stream: body['stream'] === true,
    status: 200,
    latencyMs: 250,
    request: sha256Digest(requestBytes),
    response: sha256Digest(answer),
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    cacheReadTokens: usage.cacheReadTokens ?? 0,
    cacheWriteTokens: usage.cacheWriteTokens ?? 0,
    costUsd: (usage.inputTokens + usage.outputTokens) / 1_000_000,
  };
  return { seq, time: `2026-11-28T10:00:0${seq}.000Z`, data, request: requestBytes, response: answer };
}

async function loop(format: WireFormat, stream: boolean): Promise<RecordedModelCall[]> {
  const models = await startScriptedModels({
    [format.scripted]: [
      { text: 'Writing it.', toolCalls: [{ name: 'write_file', input: writeInput }], usage: first },
      { text: 'Done: a.txt says hello.', usage: second },
    ],
  });
  open.push(models);
  return [
    await call(models, format, format.first(stream), 1, first),
    await call(models, format, format.side(stream), 2, { inputTokens: 1, outputTokens: 1 }),
    await call(models, format, format.second(stream, format.callId), 3, second),
  ];
}

describe.each(formats)('$api', (format) => {
  test.each([true, false])('stream %s: system, user, the tool call with its result as observation, the last answer; metrics per call', async (stream) => {
    const calls = await loop(format, stream);
    const trajectory = buildAtifTrajectory({ sessionId: 'run-1/write/1', agentName: 'claude-code', model, calls });
    expect(atifProblems(trajectory)).toEqual([]);
    expect(trajectory).toMatchObject({ schema_version: atifSchemaVersion, session_id: 'run-1/write/1', agent: { name: 'claude-code', model_name: model } });
    expect(trajectory.steps).toEqual([
      { step_id: 1, timestamp: '2026-11-28T10:00:00.750Z', source: 'system', message: system },
      { step_id: 2, timestamp: '2026-11-28T10:00:00.750Z', source: 'user', message: prompt },
      {
        step_id: 3,
        timestamp: '2026-11-28T10:00:01.000Z',
        source: 'agent',
        model_name: model,
        message: 'Writing it.',
        tool_calls: [{ tool_call_id: format.callId, function_name: 'write_file', arguments: writeInput }],
        observation: { results: [{ source_call_id: format.callId, content: 'wrote a.txt' }] },
        metrics: {
          prompt_tokens: 150,
          completion_tokens: 20,
          cached_tokens: 40,
          cost_usd: 0.00012,
          extra: { cache_creation_input_tokens: 10, latency_ms: 250 },
        },
        extra: { model_call_seq: 1 },
      },
      {
        step_id: 4,
        timestamp: '2026-11-28T10:00:03.000Z',
        source: 'agent',
        model_name: model,
        message: 'Done: a.txt says hello.',
        metrics: { prompt_tokens: 130, completion_tokens: 5, cached_tokens: 0, cost_usd: 0.000135, extra: { cache_creation_input_tokens: 0, latency_ms: 250 } },
        extra: { model_call_seq: 3 },
      },
    ]);
    expect(trajectory.final_metrics).toEqual({
      total_prompt_tokens: 280,
      total_completion_tokens: 25,
      total_cached_tokens: 40,
      total_cost_usd: 0.000255,
      total_steps: 4,
      extra: { side_calls: { count: 1, prompt_tokens: 1, completion_tokens: 1, cost_usd: 0.000002 } },
    });
    expect(trajectory.extra?.['model_calls']).toEqual(
      calls.map((recorded, index) => ({
        seq: recorded.seq,
        request: recorded.data.request,
        response: recorded.data.response,
        role: index === 1 ? 'side-call' : 'step',
      })),
    );
  });

  test('a body the gateway did not keep is named in notes, and no step is made up for it', async () => {
    const calls = await loop(format, true);
    const lost = calls.map((recorded, index) => (index === 2 ? { ...recorded, request: null } : index === 0 ? { ...recorded, response: null } : recorded));
    const trajectory = buildAtifTrajectory({ sessionId: 'run-1/write/1', agentName: 'codex', calls: lost });
    expect(atifProblems(trajectory)).toEqual([]);
    expect(trajectory.steps.map((step) => [step.source, step.message])).toEqual([
      ['system', system],
      ['user', prompt],
    ]);
    expect(trajectory.notes).toContain(`model call 3: its request body (${calls[2]!.data.request}) was not kept`);
    expect(trajectory.notes).toContain(`model call 1: its answer body (${calls[0]!.data.response}) was not kept`);
  });
});

test('calls are read in the order they were sent, not the order their entries were recorded (a stream may end after the next call started)', async () => {
  const [first, side, second] = await loop(formats[2]!, true);
  // The first call's answer ended last: its entry comes after the others, its start before them.
  const late = { ...first!, seq: 9, time: '2026-11-28T10:00:04.000Z', data: { ...first!.data, latencyMs: 3_500 } };
  const trajectory = buildAtifTrajectory({ sessionId: 's', agentName: 'codex', calls: [side!, second!, late] });
  expect(atifProblems(trajectory)).toEqual([]);
  expect(trajectory.steps.map((step) => [step.source, step.message, step.observation?.results.length ?? 0])).toEqual([
    ['system', system, 0],
    ['user', prompt, 0],
    ['agent', 'Writing it.', 1],
    ['agent', 'Done: a.txt says hello.', 0],
  ]);
  expect((trajectory.extra?.['model_calls'] as { seq: number }[]).map((call) => call.seq)).toEqual([9, 2, 3]);
});

test("a refused call's body the gateway kept only as a stand-in (its size and digest) is named in notes, not read as messages", async () => {
  const calls = await loop(formats[1]!, false);
  const standIn = { notStored: "a refused call's request body is stored only up to 65536 bytes", bytes: 2_000_000, digest: calls[2]!.data.request };
  // What the gateway records of a call it refused: no answer, no usage.
  const {
    response: _response,
    inputTokens: _input,
    outputTokens: _output,
    cacheReadTokens: _read,
    cacheWriteTokens: _write,
    costUsd: _cost,
    ...kept
  } = calls[2]!.data;
  const refused: RecordedModelCall = {
    ...calls[2]!,
    data: { ...kept, status: 403 },
    request: new TextEncoder().encode(JSON.stringify(standIn)),
    response: null,
  };
  const trajectory = buildAtifTrajectory({ sessionId: 's', agentName: 'openai-compatible', calls: [calls[0]!, refused] });
  expect(atifProblems(trajectory)).toEqual([]);
  expect(trajectory.steps.map((step) => step.source)).toEqual(['system', 'user', 'agent']);
  expect(trajectory.notes).toContain(`model call 3: its request body (${calls[2]!.data.request}) was not kept`);
  expect(trajectory.extra?.['model_calls']).toEqual([
    { seq: 1, request: calls[0]!.data.request, response: calls[0]!.data.response, role: 'step' },
    { seq: 3, request: calls[2]!.data.request, role: 'unread' },
  ]);
});

test("a Responses freeform tool call (Codex's apply_patch) keeps its input whole as { input }", async () => {
  const models = await startScriptedModels({ responses: [{ toolCalls: [{ name: 'apply_patch', input: '*** Begin Patch\n*** End Patch' }], usage: first }] });
  open.push(models);
  const format = formats[2]!;
  const recorded = await call(models, format, { ...format.first(true), tools: [{ type: 'custom', name: 'apply_patch' }] }, 1, first);
  const trajectory = buildAtifTrajectory({ sessionId: 's', agentName: 'codex', calls: [recorded] });
  expect(atifProblems(trajectory)).toEqual([]);
  expect(trajectory.steps.at(-1)?.tool_calls).toEqual([
    { tool_call_id: 'call_scripted_1_0', function_name: 'apply_patch', arguments: { input: '*** Begin Patch\n*** End Patch' } },
  ]);
});

test('a malformed document fails the ATIF check: each rule can fail', async () => {
  const trajectory = buildAtifTrajectory({ sessionId: 'run-1/write/1', agentName: 'claude-code', calls: await loop(formats[0]!, false) });
  expect(atifProblems(trajectory)).toEqual([]);
  const edited = (edit: (document: Record<string, any>) => void): unknown => {
    const copy = structuredClone(trajectory) as unknown as Record<string, any>;
    edit(copy);
    return copy;
  };
  expect(atifProblems(edited((document) => delete document['session_id']))).toEqual(["/ must have required property 'session_id'"]);
  expect(atifProblems(edited((document) => (document['steps'][1].source = 'tool')))).toContain('/steps/1/source must be equal to one of the allowed values');
  expect(atifProblems(edited((document) => (document['steps'][1].metrics = { prompt_tokens: 1 })))).toContain('/steps/1 must NOT be valid');
  expect(atifProblems(edited((document) => (document['steps'][2].metrics.prompt_tokens = 1.5)))).toContain('/steps/2/metrics/prompt_tokens must be integer');
  expect(atifProblems(edited((document) => (document['steps'][2].timestamp = 'yesterday')))).toContain('/steps/2/timestamp must match format "date-time"');
  expect(atifProblems(edited((document) => (document['agent'].role = 'x')))).toContain('/agent must NOT have additional properties');
  expect(atifProblems(edited((document) => (document['steps'][3].step_id = 7)))).toEqual(['/steps/3/step_id is 7, not 4']);
  expect(atifProblems(edited((document) => (document['steps'][2].observation.results[0].source_call_id = 'nope')))).toEqual([
    '/steps/2/observation/results/0/source_call_id nope names no tool call of its step',
  ]);
});
