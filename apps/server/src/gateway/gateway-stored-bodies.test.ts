// What the model gateway stores of a call's bodies (ADR 0033), through a running server: a call it
// refuses costs the agent nothing, so a refused call's large body is recorded by digest and size
// and never stored; and every attempt has a bound on the bytes of bodies it may have stored, named
// in the refusal and in the attempt's failure once passed.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { AttemptCredentials } from './attempt-credentials.ts';
import { gatewayServers, modelCallsOf, submitAgentRun } from './gateway-server.test-support.ts';
import { refusedBodyStoredBytes } from './model-gateway.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';
const runtimes = { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 6, maxRetries: 0 } };
const digestOf = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

test('calls refused for their model store no large body: twenty 1 MiB refusals leave the storage without them', { timeout: 90_000 }, async () => {
  // The runtime's own call never gets an answer: its attempt stays running while the test calls.
  const { api, composition, directory, models } = await start(
    { chat: [{ stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } }] },
    { provider: 'openai', providerKey: 'sk-provider-3a9c', runtimes },
  );
  const runId = await submitAgentRun(api, { runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt: 'Write notes.md.' }, timeout: '60s' });
  const executionId = `${runId}/write/1`;
  while (models.turns('chat').length === 0) await sleep(20);
  const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
  const credential = credentials.mint({ executionId, models: [model], expiresAt: Date.now() + 60_000 });
  const call = (body: string) =>
    fetch(`${composition.gatewayUrl!}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body,
    });
  const stored = async (digest: string) => (await composition.storage.get(`blobs/${digest.slice('sha256:'.length)}`)) !== null;

  // Each body distinct, so no two share a blob.
  const large = Array.from({ length: 20 }, () =>
    JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: randomBytes(512 * 1024).toString('hex') }] }),
  );
  for (const body of large) expect((await call(body)).status).toBe(403);
  const small = JSON.stringify({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] });
  expect((await call(small)).status).toBe(403);

  const refused = modelCallsOf(composition, runId);
  expect(refused.map((entry) => [entry.outcome, entry.data['status']])).toEqual(Array.from({ length: 21 }, () => ['denied', 403]));
  // Each entry names the body it refused by its digest, and says the body was not kept.
  expect(refused.map((entry) => entry.data['request'])).toEqual([...large, small].map(digestOf));
  for (const entry of refused.slice(0, 20)) {
    expect(await stored(entry.data['request'] as string)).toBe(false);
    expect(entry.data['reason']).toContain(`was not stored: a refused call's body is kept only up to ${refusedBodyStoredBytes} bytes`);
  }
  // A small refused body is kept, as a sent one is: a reviewer can read what was asked.
  expect(await stored(refused[20]!.data['request'] as string)).toBe(true);
  expect(models.turns('chat')).toHaveLength(1);
});

test(
  'an attempt past gateway.maxStoredBytesPerAttempt is refused with CAIRN_BUDGET_EXCEEDED, and its failure names the bound',
  { timeout: 90_000 },
  async () => {
    // Each of the agent's calls carries its prompt (about 40 kB): two fit in 100,000 bytes, a third does not.
    const writeFile = (path: string) => ({
      toolCalls: [{ name: 'write_file', input: { path, content: 'x\n' } }],
      usage: { inputTokens: 10, outputTokens: 10 },
    });
    const { api, composition, models } = await start(
      { chat: [writeFile('a.md'), writeFile('b.md'), writeFile('c.md'), { text: 'Done.', usage: { inputTokens: 10, outputTokens: 10 } }] },
      { provider: 'openai', providerKey: 'sk-provider-3a9c', runtimes, gateway: { maxStoredBytesPerAttempt: 100_000 } },
    );
    const prompt = `Write the files. ${'context '.repeat(5_000)}`;
    const runId = await submitAgentRun(api, { runtime: { kind: 'agent', adapter: 'openai-compatible', model, prompt } });
    const run = await composition.engine.waitForRun(runId);
    expect(run.state).toBe('failed');
    const [attempt] = composition.engine.attempts(runId, 'write');
    expect(attempt?.failure?.code, JSON.stringify(attempt)).toBe('CAIRN_BUDGET_EXCEEDED');
    expect(attempt?.failure?.message).toContain('its bound of 100000 bytes (gateway.maxStoredBytesPerAttempt)');
    expect(models.turns('chat')).toHaveLength(2);
    expect(modelCallsOf(composition, runId).map((entry) => [entry.outcome, entry.data['status']])).toEqual([
      ['success', 200],
      ['success', 200],
      ['denied', 402],
    ]);
  },
);
