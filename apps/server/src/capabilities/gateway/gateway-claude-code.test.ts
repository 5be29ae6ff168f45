// The real Claude Code CLI (@anthropic-ai/claude-code, pinned) in a bubblewrap sandbox with no
// network, reaching its model only through the gateway (the sandbox's relay to the worker's
// forwarder, then the server), against scripted Messages endpoints on loopback: the item's patch
// is the file the model wrote, the recorded tokens are the scripted ones, the cost the price
// table's, and the provider key is nowhere the run keeps.
import { verifyBundle } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { guideExample } from '../../http/guide-example.test-support.ts';
import { claudeCodeCommand } from './agent-clis.test-support.ts';
import { blobText, gatewayServers, modelCallsOf, submitAgentRun } from './gateway-server.test-support.ts';
import { priceModelCall } from './model-prices.ts';

const start = gatewayServers();
const guide = guideExample('plan-fan-out-merge.md', 'notes');
const model = 'claude-sonnet-4-5';
const providerKey = 'sk-ant-provider-0c9e33f1a7';

test('claude-code in a sandbox without network writes a file through the gateway; tokens and cost are the scripted ones', { timeout: 120_000 }, async () => {
  const usages = [
    { inputTokens: 1_800, outputTokens: 140, cacheReadTokens: 600, cacheWriteTokens: 200 },
    { inputTokens: 2_100, outputTokens: 35, cacheReadTokens: 0, cacheWriteTokens: 0 },
  ];
  const [binary] = claudeCodeCommand();
  const { api, composition, models } = await start(
    {
      anthropic: [
        { toolCalls: [{ name: 'Write', input: { file_path: '/workspace/HELLO.md', content: 'written by the model\n' } }], usage: usages[0]! },
        { text: 'Wrote HELLO.md.', usage: usages[1]! },
      ],
    },
    { provider: 'anthropic', providerKey, runtimes: { 'claude-code': { command: binary } } },
  );
  const runId = await submitAgentRun(api, { network: false, runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Write HELLO.md.' } });
  const run = await composition.engine.waitForRun(runId);
  const artifacts = composition.engine.artifacts(runId, 'write')!;
  expect(run.state, `${JSON.stringify(composition.engine.attempts(runId, 'write'))}\n${await blobText(composition, artifacts['stderr'])}`).toBe('succeeded');
  // The model's file and nothing else: the CLI's own files stay out of the workspace.
  const patch = await blobText(composition, artifacts['patch']);
  expect(patch.match(/^diff --git .*$/gm)).toEqual(['diff --git a/HELLO.md b/HELLO.md']);
  expect(patch).toContain('+written by the model');
  expect(models.turns('anthropic').map((request) => request.headers['x-api-key'])).toEqual([providerKey, providerKey]);

  const calls = modelCallsOf(composition, runId);
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
  for (const kept of [
    await blobText(composition, artifacts['stdout']),
    await blobText(composition, artifacts['stderr']),
    await blobText(composition, artifacts['patch']),
    JSON.stringify(calls),
    bundle,
  ])
    expect(kept).not.toContain(providerKey);

  // The bundle carries both bodies of each call and verifies, their contents fetched and hashed.
  const report = await verifyBundle(new TextEncoder().encode(bundle), {
    trustedKeys: [composition.signingKey],
    readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    readArtifact: (digest) => composition.storage.get(`blobs/${digest.slice('sha256:'.length)}`),
  });
  expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
  expect(report.checks.find((check) => check.name === 'artifacts')?.detail).toMatch(
    /^7 artifacts \(4 model call bodies\).*2 model\.called entries \(2 answered/,
  );
});

test(
  'claude-code whose model stalls mid-answer is ended by the item stallTimeout with CAIRN_ATTEMPT_STALLED (the CLI itself waits for ever)',
  { timeout: 120_000 },
  async () => {
    const [binary] = claudeCodeCommand();
    const { api, composition } = await start(
      { anthropic: [{ stall: 'mid-stream', text: 'half an answer', usage: { inputTokens: 10, outputTokens: 1 } }] },
      { provider: 'anthropic', providerKey, runtimes: { 'claude-code': { command: binary } } },
    );
    const runId = await submitAgentRun(api, {
      network: false,
      // Long enough for the CLI to start and make its call on a loaded machine (it took over 3 s
      // beside another test file): the stall to catch is the answer's, mid-stream.
      stallTimeout: '8s',
      timeout: '90s',
      runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Write HELLO.md.' },
    });
    const run = await composition.engine.waitForRun(runId);
    expect(run.state).toBe('failed');
    const [attempt] = composition.engine.attempts(runId, 'write');
    expect(attempt?.failure?.code, JSON.stringify(attempt)).toBe('CAIRN_ATTEMPT_STALLED');
    expect(attempt?.failure?.message).toMatch(/its last activity \((a model call|output)\) was \d+ ms ago.*stallTimeout is 8000 ms/);
  },
);

test(
  "the guide's agent planner: claude-code writes the fragment, its items join the run under the planner, and report waits for them",
  { timeout: 120_000 },
  async () => {
    const fragment = {
      items: ['alpha', 'beta'].map((name) => ({ id: `fix-${name}`, runtime: { kind: 'command', argv: ['sed', '-i', 's/todo/done/', `${name}.md`] } })),
    };
    const [binary] = claudeCodeCommand();
    const { base, operatorToken, composition } = await start(
      {
        anthropic: [
          {
            toolCalls: [{ name: 'Write', input: { file_path: '/workspace/output.json', content: JSON.stringify(fragment) } }],
            usage: { inputTokens: 900, outputTokens: 80 },
          },
          { text: 'Planned two fixes.', usage: { inputTokens: 1_000, outputTokens: 10 } },
        ],
      },
      { provider: 'anthropic', providerKey, runtimes: { 'claude-code': { command: binary } } },
    );
    const { runId } = await createCairnClient({ baseUrl: base, token: operatorToken }).submit(guide.spec('agent-plans'), { workspace: guide.workspace() });
    const run = await composition.engine.waitForRun(runId);
    const items = composition.engine.items(runId).map(({ itemId, state }) => [itemId, state]);
    expect(run.state, `${JSON.stringify(items)} ${JSON.stringify(composition.engine.attempts(runId, 'plan'))}`).toBe('succeeded');
    expect(items).toEqual([
      ['plan', 'succeeded'],
      ['report', 'succeeded'],
      ['plan/fix-alpha', 'succeeded'],
      ['plan/fix-beta', 'succeeded'],
    ]);
    expect(await blobText(composition, composition.engine.artifacts(runId, 'plan/fix-beta')!['patch'])).toContain('-beta: todo\n+beta: done\n');
    // The agent's model calls are the planner's, metered; the fragment is the output.json it wrote.
    expect(modelCallsOf(composition, runId)).toHaveLength(2);
    const [extended] = [...composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'run.extended');
    expect(JSON.parse(await blobText(composition, extended!.data['fragment']))).toEqual(fragment);
  },
);
