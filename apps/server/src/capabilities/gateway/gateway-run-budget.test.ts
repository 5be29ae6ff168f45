// A run whose agents together reach the run's budget (ADR 0033): it waits in awaiting-budget,
// starting no agent item, while the call that found it spent is held (the agent kept alive, not
// taken for stalled); someone with the runs:budget scope raises it (`cairn budget`), and the held
// call goes on and the run finishes. The wait and the raise are audited, the run's webhooks carry
// its spend, and the bundle verifies.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifyBundle } from '@cairn/audit';
import { expect, onTestFinished, test } from 'vitest';
import { runCli } from '../../cli/run-cli.test-support.ts';
import { gatewayServers, modelCallsOf } from './gateway-server.test-support.ts';

const start = gatewayServers();
const model = 'gpt-4o-mini';
const agent = (prompt: string) => ({ kind: 'agent', adapter: 'openai-compatible', model, prompt });
const done = { text: 'Done.', usage: { inputTokens: 10, outputTokens: 10 } };

test('a run over its budget waits, starting no agent item, until it is raised; then it finishes', { timeout: 90_000 }, async () => {
  const { api, base, composition, models, operatorToken } = await start(
    {
      chat: [{ toolCalls: [{ name: 'write_file', input: { path: 'a.md', content: 'a\n' } }], usage: { inputTokens: 600, outputTokens: 500 } }, done, done],
    },
    {
      provider: 'openai',
      providerKey: 'sk-provider-0d1e',
      runtimes: { 'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', maxTurns: 4, maxRetries: 0 } },
    },
  );
  // A webhook receiver for the run's states: a run that waits or ends is told with its spend.
  const deliveries: { data: { id: number; state: string }; spend?: { inputTokens: number; calls: number } }[] = [];
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      deliveries.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.statusCode = 204;
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  const hook = await api('/v1/webhooks', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, events: ['run.state'] }),
  });
  expect(hook.status).toBe(201);
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: 1,
      name: 'budgeted',
      budget: { tokens: 1_000 },
      items: [
        // Its held call outlasts its stallTimeout: a held call is alive, not stalled.
        { id: 'first', runtime: agent('Write a.md.'), stallTimeout: '2s' },
        // Ends after the first call has spent the budget: what depends on it is held back then.
        { id: 'gate', runtime: { kind: 'command', argv: ['sleep', '3'] } },
        { id: 'second', dependsOn: ['gate'], runtime: agent('Say done.') },
      ],
    }),
  });
  const { runId } = (await submitted.json()) as { runId: string };
  const run = async () => (await (await api(`/v1/runs/${runId}`)).json()) as { state: string; spend?: { total: { inputTokens: number } } };
  const items = async () =>
    Object.fromEntries(((await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; state: string }[]).map((item) => [item.itemId, item.state]));

  // The first call took the run to 1,100 tokens of 1,000: it waits; `second` is ready and is not started.
  await expect.poll(async () => (await run()).state, { timeout: 30_000 }).toBe('awaiting-budget');
  await expect.poll(async () => (await items())['gate'], { timeout: 30_000 }).toBe('succeeded');
  await sleep(3_000);
  expect(await items()).toEqual({ first: 'running', gate: 'succeeded', second: 'ready' });
  expect(models.turns('chat')).toHaveLength(1);
  const status = await runCli(['status', runId, '--server', base], { env: { CAIRN_TOKEN: operatorToken } });
  expect(status.stdout).toContain('awaiting-budget');

  // A raise needs its own scope, and must leave the run something to spend.
  const { token: approver } = await composition.tokens.create('approver', ['runs:read', 'runs:approve']);
  const refused = await runCli(['budget', runId, '--tokens', '5000', '--reason', 'more', '--server', base], { env: { CAIRN_TOKEN: approver } });
  expect(refused.status, refused.stderr).not.toBe(0);
  expect(refused.stderr).toContain('runs:budget');
  const tooLittle = await api(`/v1/runs/${runId}/budget`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ budget: { tokens: 1_100 }, reason: 'a little more' }),
  });
  expect(tooLittle.status).toBe(400);
  expect(await tooLittle.json()).toMatchObject({
    code: 'CAIRN_PAYLOAD_INVALID',
    path: 'budget.tokens',
    message: expect.stringContaining('has used 1100 tokens'),
  });

  const raised = await runCli(['budget', runId, '--tokens', '5000', '--reason', 'the fix is worth it', '--server', base], {
    env: { CAIRN_TOKEN: operatorToken },
  });
  expect(raised.stdout, raised.stderr).toContain(`budget raised: run ${runId} may spend 5000 tokens`);
  const ended = await composition.engine.waitForRun(runId);
  expect(ended.state, JSON.stringify(composition.engine.items(runId))).toBe('succeeded');
  expect((await run()).spend?.total.inputTokens).toBe(620);

  const entries = [...composition.engine.audit.runEntries(runId)];
  const budgetEntries = entries.filter((entry) => entry.action.startsWith('run.budget'));
  expect(budgetEntries.map((entry) => [entry.action, entry.actor.id, entry.data['budget'], entry.data['reason']])).toEqual([
    ['run.budget-exhausted', 'engine', { tokens: 1_000 }, undefined],
    ['run.budget-raised', expect.any(String), { tokens: 5_000 }, 'the fix is worth it'],
  ]);
  expect(budgetEntries[0]!.data['spent']).toMatchObject({ inputTokens: 600, outputTokens: 500, calls: 1 });
  // Every call went on: none refused, the held one after the raise.
  expect(modelCallsOf(composition, runId).map((entry) => entry.outcome)).toEqual(['success', 'success', 'success']);
  // Sent concurrently: in the events' order once sorted by their ids.
  const inOrder = () => [...deliveries].sort((one, other) => one.data.id - other.data.id);
  await expect
    .poll(() => inOrder().map((delivery) => delivery.data.state), { timeout: 10_000 })
    .toEqual(['queued', 'running', 'awaiting-budget', 'running', 'succeeded']);
  expect(inOrder().map((delivery) => [delivery.data.state, delivery.spend?.inputTokens, delivery.spend?.calls])).toEqual([
    ['queued', undefined, undefined],
    ['running', undefined, undefined],
    ['awaiting-budget', 600, 1],
    ['running', undefined, undefined],
    ['succeeded', 620, 3],
  ]);
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  const report = await verifyBundle(new TextEncoder().encode(bundle), {
    trustedKeys: [composition.signingKey],
    readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    readArtifact: (digest) => composition.storage.get(`blobs/${digest.slice('sha256:'.length)}`),
  });
  expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
});
