// The real Claude Code CLI (@anthropic-ai/claude-code, pinned) in a bubblewrap sandbox with no
// network, reaching its model only through the gateway (the sandbox's relay to the worker's
// forwarder, then the server), against scripted Messages endpoints on loopback: the item's patch
// is the file the model wrote, the recorded tokens are the scripted ones, the cost the price
// table's, and the provider key is nowhere the run keeps.
import { afterEach, expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { claudeCodeCommand } from './agent-clis.test-support.ts';
import { priceModelCall } from './model-prices.ts';
import { startScriptedModels, type ScriptedModels } from './scripted-models.test-support.ts';

const start = runningServers();
const endpoints: ScriptedModels[] = [];
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close();
});

const model = 'claude-sonnet-4-5';
const providerKey = 'sk-ant-provider-0c9e33f1a7';

test('claude-code in a sandbox without network writes a file through the gateway; tokens and cost are the scripted ones', { timeout: 120_000 }, async () => {
  const usages = [
    { inputTokens: 1_800, outputTokens: 140, cacheReadTokens: 600, cacheWriteTokens: 200 },
    { inputTokens: 2_100, outputTokens: 35, cacheReadTokens: 0, cacheWriteTokens: 0 },
  ];
  const models = await startScriptedModels({
    anthropic: [
      { toolCalls: [{ name: 'Write', input: { file_path: '/workspace/HELLO.md', content: 'written by the model\n' } }], usage: usages[0]! },
      { text: 'Wrote HELLO.md.', usage: usages[1]! },
    ],
  });
  endpoints.push(models);
  const [binary] = claudeCodeCommand();
  const { api, composition } = await start('tokens', {
    config: {
      gateway: { enabled: true, providers: { anthropic: { baseUrl: models.baseUrls.anthropic, apiKeySecret: 'ANTHROPIC_KEY' } } },
      runtimes: { 'claude-code': { command: binary } },
    },
  });
  await composition.engine.setSecret('ANTHROPIC_KEY', providerKey, { kind: 'user', id: 'admin', via: 'cli' });
  const response = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      version: 1,
      name: 'claude',
      items: [{ id: 'hello', network: false, runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Write HELLO.md.' } }],
    }),
  });
  const { runId } = (await response.json()) as { runId: string };
  const run = await composition.engine.waitForRun(runId);
  const blob = async (digest: string | undefined) => Buffer.from((await composition.storage.get(`blobs/${digest!.slice('sha256:'.length)}`))!).toString('utf8');
  const artifacts = composition.engine.artifacts(runId, 'hello')!;
  expect(run.state, `${JSON.stringify(composition.engine.attempts(runId, 'hello'))}\n${await blob(artifacts['stderr'])}`).toBe('succeeded');
  // The model's file and nothing else: the CLI's own files stay out of the workspace.
  const patch = await blob(artifacts['patch']);
  expect(patch.match(/^diff --git .*$/gm)).toEqual(['diff --git a/HELLO.md b/HELLO.md']);
  expect(patch).toContain('+written by the model');
  expect(models.turns('anthropic').map((request) => request.headers['x-api-key'])).toEqual([providerKey, providerKey]);

  const calls = [...composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'model.called');
  expect(
    calls.map((entry) => [
      entry.data['stream'],
      entry.data['inputTokens'],
      entry.data['outputTokens'],
      entry.data['cacheReadTokens'],
      entry.data['cacheWriteTokens'],
      entry.data['costUsd'],
    ]),
  ).toEqual(
    usages.map((usage) => [
      true,
      usage.inputTokens,
      usage.outputTokens,
      usage.cacheReadTokens,
      usage.cacheWriteTokens,
      priceModelCall({ provider: 'anthropic', model, usage }).costUsd,
    ]),
  );
  // The key is in no log, patch, entry or bundle of the run.
  const bundle = await (await api(`/v1/runs/${runId}/bundle`)).text();
  for (const kept of [await blob(artifacts['stdout']), await blob(artifacts['stderr']), await blob(artifacts['patch']), JSON.stringify(calls), bundle])
    expect(kept).not.toContain(providerKey);
});
