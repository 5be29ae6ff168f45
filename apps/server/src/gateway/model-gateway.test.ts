// The model gateway in a running server (ADR 0033), with the openai-compatible runtime (it runs in
// the worker, on the host) calling scripted Chat Completions endpoints through it: the provider key
// stays in the server, every call is metered, priced and audited with its bodies stored, a budget
// stops an item mid-run, and a credential works only for its own attempt while it runs.
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { AttemptCredentials } from './attempt-credentials.ts';
import { priceModelCall } from './model-prices.ts';
import { startScriptedModels, type ModelScript, type ScriptedModels } from './scripted-models.test-support.ts';

const start = runningServers();
const endpoints: ScriptedModels[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
});

const model = 'gpt-4o-mini';
const providerKey = 'sk-provider-6f2d0b9e41';
const admin = { kind: 'user', id: 'admin', via: 'cli' } as const;

async function gatewayServer(script: ModelScript) {
  const models = await startScriptedModels(script);
  endpoints.push(models);
  const server = await start('tokens', {
    config: {
      gateway: { enabled: true, providers: { openai: { baseUrl: models.baseUrls.openai, apiKeySecret: 'OPENAI_KEY' } } },
      // The runtime's own endpoint is never used: its attempts are given the gateway.
      runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 6, maxRetries: 0 } },
    },
  });
  await server.composition.engine.setSecret('OPENAI_KEY', providerKey, admin);
  return { ...server, models };
}

async function submitAgent(api: (path: string, init?: RequestInit) => Promise<Response>, item: object): Promise<string> {
  const response = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: 1,
      name: 'agent',
      items: [{ id: 'write', runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write notes.md.' }, ...item }],
    }),
  });
  const answer = (await response.json()) as { runId?: string };
  expect(response.status, JSON.stringify(answer)).toBe(201);
  return answer.runId!;
}

test(
  'calls go through the gateway: metered to the scripted usage, priced from the table, audited with their bodies, the key never in the run',
  { timeout: 90_000 },
  async () => {
    const first = { inputTokens: 120, outputTokens: 30, cacheReadTokens: 40 };
    const second = { inputTokens: 210, outputTokens: 12, cacheReadTokens: 0 };
    const { api, composition, models } = await gatewayServer({
      chat: [
        { toolCalls: [{ name: 'write_file', input: { path: 'notes.md', content: 'from the model\n' } }], usage: first },
        { text: 'Done.', usage: second },
      ],
    });
    const runId = await submitAgent(api, {});
    const run = await composition.engine.waitForRun(runId);
    expect(run.state, JSON.stringify(composition.engine.attempts(runId, 'write'))).toBe('succeeded');

    // The provider saw the server's key, never a credential of the attempt's.
    expect(models.turns('chat').map((request) => request.headers.authorization)).toEqual([`Bearer ${providerKey}`, `Bearer ${providerKey}`]);
    const calls = [...composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'model.called');
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
      const request = await composition.storage.get(`blobs/${String(call.data['request']).slice('sha256:'.length)}`);
      const response = await composition.storage.get(`blobs/${String(call.data['response']).slice('sha256:'.length)}`);
      expect(JSON.parse(Buffer.from(request!).toString('utf8')).model).toBe(model);
      expect(Buffer.from(response!).toString('utf8')).toContain('"usage"');
    }
    const patch = Buffer.from(
      (await composition.storage.get(`blobs/${composition.engine.artifacts(runId, 'write')!['patch']!.slice('sha256:'.length)}`))!,
    ).toString('utf8');
    expect(patch).toContain('+from the model');
    expect(JSON.stringify([...composition.engine.audit.runEntries(runId)])).not.toContain(providerKey);
  },
);

test('an item over its budget is stopped with CAIRN_BUDGET_EXCEEDED: its next call is refused and the attempt ends', { timeout: 90_000 }, async () => {
  const { api, composition, models } = await gatewayServer({
    chat: [
      { toolCalls: [{ name: 'write_file', input: { path: 'a.md', content: 'a\n' } }], usage: { inputTokens: 600, outputTokens: 500 } },
      { text: 'never reached', usage: { inputTokens: 1, outputTokens: 1 } },
    ],
  });
  const runId = await submitAgent(api, { budget: { tokens: 1_000 } });
  const run = await composition.engine.waitForRun(runId);
  expect(run.state).toBe('failed');
  const [attempt] = composition.engine.attempts(runId, 'write');
  expect(attempt?.failure?.code, JSON.stringify(attempt)).toBe('CAIRN_BUDGET_EXCEEDED');
  expect(attempt?.failure?.message).toContain('1100 tokens of its budget of 1000');
  expect(models.turns('chat')).toHaveLength(1);
  const calls = [...composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'model.called');
  expect(calls.map((entry) => [entry.outcome, entry.data['status']])).toEqual([
    ['success', 200],
    ['denied', 402],
  ]);
});

test('a credential is refused for another attempt, after its attempt, forged, or for a model its item does not name', { timeout: 90_000 }, async () => {
  const { api, composition, directory } = await gatewayServer({ chat: [{ text: 'Done.', usage: { inputTokens: 5, outputTokens: 5 } }] });
  const runId = await submitAgent(api, {});
  await composition.engine.waitForRun(runId);
  const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
  const call = (credential: string, body: object = { model, messages: [{ role: 'user', content: 'hi' }] }) =>
    fetch(`${composition.gatewayUrl!}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const ended = credentials.mint({ executionId: `${runId}/write/1`, models: [model], expiresAt: Date.now() + 60_000 });
  const other = credentials.mint({ executionId: `${runId}/other/1`, models: [model], expiresAt: Date.now() + 60_000 });
  const forged = ended.slice(0, -4) + (ended.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  for (const credential of [ended, other, forged, 'sk-not-a-credential']) {
    const response = await call(credential);
    expect(response.status).toBe(401);
    expect(response.headers.get('x-cairn-error')).toBe('CAIRN_MODEL_NOT_ALLOWED');
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain('not one of a running attempt');
  }
});

test(
  'an agent whose model never answers, and which writes nothing, ends with CAIRN_ATTEMPT_STALLED naming its last activity',
  { timeout: 90_000 },
  async () => {
    const { api, composition } = await gatewayServer({ chat: [{ stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } }] });
    const runId = await submitAgent(api, { stallTimeout: '2s', timeout: '60s' });
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
    const response = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'bad',
        items: [{ id: 'write', runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'x' }, ...item }],
      }),
    });
    const answer = (await response.json()) as { code: string; issues?: { path: string; message: string }[] };
    expect(response.status, JSON.stringify(answer)).toBe(400);
    expect(answer.code).toBe('CAIRN_RUN_SPEC_INVALID');
    expect(answer.issues?.map((issue) => issue.path)).toContain(path);
  }
});
