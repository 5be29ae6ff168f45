// The real Codex CLI (@openai/codex, pinned) as the `codex` runtime, in a bubblewrap sandbox with no
// network, reaching its model only through the gateway (relay, forwarder, server), against scripted
// Responses endpoints on loopback: its patch holds the file it wrote with apply_patch and the one its
// shell wrote, the recorded tokens are the scripted ones and the cost the price table's.
import { expect, test } from 'vitest';
import { codexCommand } from './agent-clis.test-support.ts';
import { blobText, gatewayServers, modelCallsOf, submitAgentRun } from './gateway-server.test-support.ts';
import { priceModelCall } from './model-prices.ts';

const start = gatewayServers();
const model = 'gpt-5.5';
const providerKey = 'sk-provider-codex-5b1e07';

test('codex in a sandbox without network writes files through the gateway; tokens and cost are the scripted ones', { timeout: 120_000 }, async () => {
  const usages = [
    { inputTokens: 500, outputTokens: 40, cacheReadTokens: 3_000 },
    { inputTokens: 60, outputTokens: 20, cacheReadTokens: 3_500 },
    { inputTokens: 70, outputTokens: 9, cacheReadTokens: 3_600 },
  ];
  const [binary] = codexCommand();
  const { api, composition, models } = await start(
    {
      responses: [
        {
          toolCalls: [{ name: 'apply_patch', input: '*** Begin Patch\n*** Add File: hello.txt\n+hello from the scripted model\n*** End Patch\n' }],
          usage: usages[0]!,
        },
        { toolCalls: [{ name: 'exec_command', input: { cmd: "printf 'from the shell\\n' > shell.txt" } }], usage: usages[1]! },
        { text: 'Created hello.txt and shell.txt.', usage: usages[2]! },
      ],
    },
    { provider: 'openai', providerKey, runtimes: { codex: { command: binary } } },
  );
  const runId = await submitAgentRun(api, { network: false, runtime: { kind: 'agent', adapter: 'codex', model, prompt: 'Create hello.txt and shell.txt.' } });
  const run = await composition.engine.waitForRun(runId);
  const artifacts = composition.engine.artifacts(runId, 'write')!;
  expect(run.state, `${JSON.stringify(composition.engine.attempts(runId, 'write'))}\n${await blobText(composition, artifacts['stderr'])}`).toBe('succeeded');
  // The two files and nothing else: Codex's own home is in the sandbox's /tmp.
  const patch = await blobText(composition, artifacts['patch']);
  expect(patch.match(/^diff --git .*$/gm)).toEqual(['diff --git a/hello.txt b/hello.txt', 'diff --git a/shell.txt b/shell.txt']);
  expect(patch).toContain('+hello from the scripted model');
  expect(patch).toContain('+from the shell');
  expect(models.turns('responses').map((request) => request.headers.authorization)).toEqual(Array(3).fill(`Bearer ${providerKey}`));

  const calls = modelCallsOf(composition, runId);
  // In any order: each entry is written once its bodies' flush lands, so two calls close together
  // can be logged in the order their flushes ended (ADR 0059).
  const byInput = (one: unknown[], other: unknown[]) => Number(one[2]) - Number(other[2]);
  expect(
    calls
      .map((entry) => [
        entry.data['api'],
        entry.data['stream'],
        entry.data['inputTokens'],
        entry.data['outputTokens'],
        entry.data['cacheReadTokens'],
        entry.data['costUsd'],
      ])
      .sort(byInput),
  ).toEqual(
    usages
      .map((usage) => {
        const price = priceModelCall({ provider: 'openai', model, usage: { ...usage, cacheWriteTokens: 0 } });
        return ['openai-responses', true, usage.inputTokens, usage.outputTokens, usage.cacheReadTokens, price.costUsd ?? undefined];
      })
      .sort(byInput),
  );
  for (const kept of [await blobText(composition, artifacts['stdout']), await blobText(composition, artifacts['stderr']), patch, JSON.stringify(calls)])
    expect(kept).not.toContain(providerKey);
});
