// The model gateway in a running server (ADR 0033), with the openai-compatible runtime (it runs in
// the worker, on the host) calling scripted Chat Completions endpoints through it: the provider key
// stays in the server, every call is metered, priced and audited with its bodies stored, a budget
// stops an item mid-run, and a credential works only for its own attempt and models while it runs.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { createCairnClient } from '@cairn/client';
import { buildMcpServer } from '@cairn/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { AttemptCredentials } from './attempt-credentials.ts';
import { blobText, gatewayServers, modelCallsOf, postAgentRun, submitAgentRun } from './gateway-server.test-support.ts';
import { priceModelCall } from './model-prices.ts';
import type { ModelScript } from './scripted-models.test-support.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';
const providerKey = 'sk-provider-6f2d0b9e41';

function gatewayServer(script: ModelScript) {
  // The runtime's own endpoint is never used: its attempts are given the gateway.
  return start(script, {
    provider: 'openai',
    providerKey,
    runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 6, maxRetries: 0 } },
  });
}

/** The item `write`: an openai-compatible agent, with `item`'s fields beside. */
const agentItem = (item: object = {}) => ({ runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write notes.md.' }, ...item });

test(
  'calls go through the gateway: metered to the scripted usage, priced from the table, audited with their bodies, the key never in the run',
  { timeout: 90_000 },
  async () => {
    const first = { inputTokens: 120, outputTokens: 30, cacheReadTokens: 40 };
    const second = { inputTokens: 210, outputTokens: 12, cacheReadTokens: 0 };
    const { api, composition, models, base, operatorToken } = await gatewayServer({
      chat: [
        { toolCalls: [{ name: 'write_file', input: { path: 'notes.md', content: 'from the model\n' } }], usage: first },
        { text: 'Done.', usage: second },
      ],
    });
    const runId = await submitAgentRun(api, agentItem({}));
    const run = await composition.engine.waitForRun(runId);
    expect(run.state, JSON.stringify(composition.engine.attempts(runId, 'write'))).toBe('succeeded');

    // The provider saw the server's key, never a credential of the attempt's.
    expect(models.turns('chat').map((request) => request.headers.authorization)).toEqual([`Bearer ${providerKey}`, `Bearer ${providerKey}`]);
    const calls = modelCallsOf(composition, runId);
    expect(
      calls.map((entry) => [entry.outcome, entry.data['inputTokens'], entry.data['outputTokens'], entry.data['cacheReadTokens'], entry.data['costUsd']]),
    ).toEqual(
      [first, second].map((usage) => {
        const measured = { inputTokens: usage.inputTokens, outputTokens: usage.outputTokens, cacheReadTokens: usage.cacheReadTokens, cacheWriteTokens: 0 };
        const price = priceModelCall({ provider: 'openai', model, usage: measured });
        expect(price.costUsd).not.toBeNull();
        return ['success', measured.inputTokens, measured.outputTokens, measured.cacheReadTokens, price.costUsd];
      }),
    );
    // Both bodies of each call are stored by digest: what the agent was asked and what it was told.
    for (const call of calls) {
      expect(JSON.parse(await blobText(composition, call.data['request'])).model).toBe(model);
      expect(await blobText(composition, call.data['response'])).toContain('"usage"');
    }
    expect(await blobText(composition, composition.engine.artifacts(runId, 'write')!['patch'])).toContain('+from the model');
    expect(JSON.stringify([...composition.engine.audit.runEntries(runId)])).not.toContain(providerKey);

    // The spend, on the API and in `cairn status`: the sums of the two calls.
    const costUsd = calls.reduce((sum, call) => sum + (call.data['costUsd'] as number), 0);
    const spent = { calls: 2, succeeded: 2, inputTokens: 330, outputTokens: 42, cacheReadTokens: 40, cacheWriteTokens: 0, unknownCost: 0 };
    const { spend } = (await (await api(`/v1/runs/${runId}`)).json()) as { spend: { total: { costUsd: number }; items: Record<string, { costUsd: number }> } };
    expect(spend.total).toMatchObject(spent);
    expect(spend.items['write']).toEqual(spend.total);
    expect(spend.total.costUsd).toBeCloseTo(costUsd, 9);
    const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
    expect(status.stdout, status.stderr).toContain('spend: $');
    expect(status.stdout).toContain('for 2 model calls; 412 tokens (330 input, 42 output, 40 cache read, 0 cache write)');
    expect(status.stdout).toMatch(/write +succeeded {2}\$[0-9.e-]+, 412 tokens/);

    // And in `cairn report`: the run's dollars and tokens.
    const report = await runCli(['report', '--format', 'json', '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
    const reported = (JSON.parse(report.stdout) as { runs: { runId: string; spend?: object }[]; totals: { tokens: number } }).runs.find(
      (row) => row.runId === runId,
    );
    expect(reported?.spend, report.stderr).toEqual({ costUsd: spend.total.costUsd, tokens: 412, calls: 2, unknownCost: 0 });

    // And to an AI client, through MCP's get_run_status.
    const mcp = buildMcpServer(createCairnClient({ baseUrl: base, token: operatorToken }));
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await mcp.connect(serverSide);
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(clientSide);
    const answer = await client.callTool({ name: 'get_run_status', arguments: { runId } });
    await client.close();
    expect((answer.structuredContent as { spend: { total: object } }).spend.total).toEqual(spend.total);

    // And in /metrics, by model: the calls, each kind of token, the dollars.
    const metrics = (await (await api('/metrics')).text()).split('\n');
    const sample = (name: string, ...labels: string[]) =>
      Number(
        metrics
          .find((line) => line.startsWith(`${name}{`) && labels.every((label) => line.includes(label)))
          ?.split(' ')
          .at(-1),
      );
    expect(sample('cairn_model_calls_total', 'outcome="success"', `model="${model}"`)).toBe(2);
    expect(['input', 'output', 'cache_read'].map((kind) => sample('cairn_model_tokens_total', `kind="${kind}"`, 'provider="openai"'))).toEqual([330, 42, 40]);
    expect(sample('cairn_model_cost_usd_total', `model="${model}"`)).toBeCloseTo(costUsd, 9);
  },
);

test('an item over its budget is stopped with CAIRN_BUDGET_EXCEEDED: its next call is refused and the attempt ends', { timeout: 90_000 }, async () => {
  const { api, composition, models } = await gatewayServer({
    chat: [
      { toolCalls: [{ name: 'write_file', input: { path: 'a.md', content: 'a\n' } }], usage: { inputTokens: 600, outputTokens: 500 } },
      { text: 'never reached', usage: { inputTokens: 1, outputTokens: 1 } },
    ],
  });
  const runId = await submitAgentRun(api, agentItem({ budget: { tokens: 1_000 } }));
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('failed');
  const [attempt] = composition.engine.attempts(runId, 'write');
  expect(attempt?.failure?.code, JSON.stringify(attempt)).toBe('CAIRN_BUDGET_EXCEEDED');
  expect(attempt?.failure?.message).toContain('1100 tokens of its budget of 1000');
  expect(models.turns('chat')).toHaveLength(1);
  const calls = modelCallsOf(composition, runId);
  expect(calls.map((entry) => [entry.outcome, entry.data['status']])).toEqual([
    ['success', 200],
    ['denied', 402],
  ]);
});

test('a credential works only for its own attempt, while it runs, and for the models its item names', { timeout: 90_000 }, async () => {
  // The model never answers: the attempt stays running until it is cancelled.
  const { api, composition, directory } = await gatewayServer({
    chat: [{ stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } }],
  });
  const runId = await submitAgentRun(api, agentItem({ timeout: '60s' }));
  const executionId = `${runId}/write/1`;
  while (composition.engine.liveAttempt(executionId) === undefined) await sleep(20);
  const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
  const call = (credential: string, asked = model) =>
    fetch(`${composition.gatewayUrl!}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: asked, messages: [{ role: 'user', content: 'hi' }] }),
    });
  const refusal = async (response: Response) => ({
    status: response.status,
    code: response.headers.get('x-cairn-error'),
    message: ((await response.json()) as { error: { message: string } }).error.message,
  });
  const mint = (attempt: string) => credentials.mint({ executionId: attempt, models: [model], expiresAt: Date.now() + 60_000 });

  // Its own attempt, running, but another model: refused, and the refusal is audited.
  expect(await refusal(await call(mint(executionId), 'gpt-4.1'))).toMatchObject({
    status: 403,
    code: 'CAIRN_MODEL_NOT_ALLOWED',
    message: expect.stringContaining('not "gpt-4.1"'),
  });
  expect(modelCallsOf(composition, runId).map((entry) => [entry.outcome, entry.data['model'], entry.data['status']])).toEqual([['denied', 'gpt-4.1', 403]]);
  // Another attempt's, a forged one, and no credential at all.
  const genuine = mint(executionId);
  const forged = genuine.slice(0, -4) + (genuine.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  for (const credential of [mint(`${runId}/other/1`), forged, 'sk-not-a-credential']) {
    expect(await refusal(await call(credential))).toMatchObject({
      status: 401,
      code: 'CAIRN_MODEL_NOT_ALLOWED',
      message: expect.stringContaining('not one of a running attempt'),
    });
  }
  // Its own, once the attempt has ended.
  expect((await api(`/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
  await composition.engine.waitForRun(runId);
  expect(await refusal(await call(mint(executionId)))).toMatchObject({ status: 401, code: 'CAIRN_MODEL_NOT_ALLOWED' });
});

test(
  'an agent whose model never answers, and which writes nothing, ends with CAIRN_ATTEMPT_STALLED naming its last activity',
  { timeout: 90_000 },
  async () => {
    const { api, composition } = await gatewayServer({ chat: [{ stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } }] });
    const runId = await submitAgentRun(api, agentItem({ stallTimeout: '2s', timeout: '60s' }));
    const run = await composition.engine.waitForRun(runId);
    expect(run.state).toBe('failed');
    const [attempt] = composition.engine.attempts(runId, 'write');
    expect(attempt?.failure?.code, JSON.stringify(attempt)).toBe('CAIRN_ATTEMPT_STALLED');
    expect(attempt?.failure?.message).toMatch(/its last activity \(a model call\) was \d+ ms ago.*stallTimeout is 2000 ms/);
  },
);

test('bad budgets and stall timeouts are refused at their JSON path', { timeout: 60_000 }, async () => {
  const { api } = await gatewayServer({});
  for (const [item, path] of [
    [{ budget: { usd: 0 } }, '$.items[0].budget.usd'],
    [{ budget: { tokens: -5 } }, '$.items[0].budget.tokens'],
    [{ budget: {} }, '$.items[0].budget'],
    [{ stallTimeout: 'soon' }, '$.items[0].stallTimeout'],
  ] as const) {
    const response = await postAgentRun(api, agentItem(item));
    const answer = (await response.json()) as { code: string; issues?: { path: string; message: string }[] };
    expect(response.status, JSON.stringify(answer)).toBe(400);
    expect(answer.code).toBe('CAIRN_RUN_SPEC_INVALID');
    expect(answer.issues?.map((issue) => issue.path)).toContain(path);
  }
});

test('an answer the provider cuts short is cut short for the agent too, and recorded as failed', { timeout: 90_000 }, async () => {
  // The runtime's own call never gets an answer (its attempt stays running); the test's call gets the
  // first event of a stream, and then the provider goes away.
  const { api, composition, directory, models } = await gatewayServer({
    chat: [
      { stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } },
      { stall: 'mid-stream', text: 'cut short', usage: { inputTokens: 1, outputTokens: 1 } },
    ],
  });
  const runId = await submitAgentRun(api, agentItem({ timeout: '60s' }));
  const executionId = `${runId}/write/1`;
  while (models.turns('chat').length === 0) await sleep(20);
  const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
  const response = await fetch(`${composition.gatewayUrl!}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${credentials.mint({ executionId, models: [model], expiresAt: Date.now() + 60_000 })}`,
      'content-type': 'application/json',
    },
    // With a tool declared, as an agent's turn (the scripted endpoints answer a call without tools as a side call).
    body: JSON.stringify({
      model,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'noop', parameters: { type: 'object' } } }],
    }),
  });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  expect((await reader.read()).done).toBe(false);
  await models.close();
  await expect(
    (async () => {
      while (!(await reader.read()).done);
    })(),
  ).rejects.toThrow();
  // Both calls failed at the provider: the runtime's never answered, the test's was cut short.
  while (modelCallsOf(composition, runId).length < 2) await sleep(20);
  const calls = modelCallsOf(composition, runId).map((entry) => [entry.outcome, entry.data['stream'], entry.data['status']]);
  expect(calls.sort()).toEqual([
    ['failure', false, 502],
    ['failure', true, 200],
  ]);
  const cut = modelCallsOf(composition, runId).find((entry) => entry.data['stream'] === true);
  expect(cut?.data['reason']).toEqual(expect.stringContaining('usage estimated (stream has no chunk with usage'));
});

test(
  'a quota of 2 concurrent calls holds across two runs: the third and fourth calls wait for room, and their wait is recorded',
  { timeout: 90_000 },
  async () => {
    const slow = { firstByteDelayMs: 700, text: 'Done.', usage: { inputTokens: 5, outputTokens: 5 } };
    const { api, composition, models } = await start(
      { chat: [slow, slow, slow, slow] },
      {
        provider: 'openai',
        providerKey,
        runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 } },
        gateway: { quotas: { openai: { concurrent: 2 } } },
      },
    );
    const agents = { version: 1, items: ['a', 'b'].map((id) => ({ id, ...agentItem() })) };
    const runIds = await Promise.all(
      ['one', 'two'].map(async (name) => {
        const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...agents, name }) });
        expect(response.status).toBe(201);
        return ((await response.json()) as { runId: string }).runId;
      }),
    );
    for (const runId of runIds) expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
    // The provider never had more than two calls at once: the third arrived once one had ended.
    const arrivals = models
      .turns('chat')
      .map((request) => request.receivedAt)
      .sort((left, right) => left - right);
    expect(arrivals).toHaveLength(4);
    expect(arrivals[2]! - arrivals[0]!).toBeGreaterThanOrEqual(650);
    const waits = runIds.flatMap((runId) => modelCallsOf(composition, runId).map((entry) => entry.data['quotaWaitMs'] ?? 0)) as number[];
    expect(waits.filter((wait) => wait > 0).length).toBeGreaterThanOrEqual(2);
  },
);
