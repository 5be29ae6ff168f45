// What the model gateway stores of a call's bodies (ADR 0033), through a running server: a call it
// refuses costs the agent nothing, so a refused call's large body is never stored (its entry names
// a small stand-in giving its size and digest); and every attempt has a bound on the bytes of
// bodies it may have stored, named in the refusal and in the attempt's failure once passed.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyBundle } from '@cairn/audit';
import { expect, test } from 'vitest';
import { AttemptCredentials } from './attempt-credentials.ts';
import { blobText, gatewayServers, modelCallsOf, submitAgentRun } from './gateway-server.test-support.ts';
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
  for (const [index, entry] of refused.slice(0, 20).entries()) {
    // The body itself is not stored; the entry names a stand-in that gives its size and digest.
    expect(await stored(digestOf(large[index]!))).toBe(false);
    expect(entry.data['reason']).toContain(`its request body (${large[index]!.length} bytes, ${digestOf(large[index]!)}) was not stored`);
    expect(JSON.parse(await blobText(composition, entry.data['request']))).toEqual({
      notStored: `a refused call's request body is stored only up to ${refusedBodyStoredBytes} bytes`,
      bytes: large[index]!.length,
      digest: digestOf(large[index]!),
    });
  }
  // A small refused body is kept, as a sent one is: a reviewer can read what was asked.
  expect(refused[20]!.data['request']).toBe(digestOf(small));
  expect(await stored(digestOf(small))).toBe(true);
  expect(models.turns('chat')).toHaveLength(1);

  // Every body an entry names can be fetched: the run's bundle verifies with its artifacts read.
  await api(`/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await composition.engine.waitForRun(runId);
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), {
    trustedKeys: [composition.signingKey],
    readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    readArtifact: (digest) => composition.storage.get(`blobs/${digest.slice('sha256:'.length)}`),
  });
  expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
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
