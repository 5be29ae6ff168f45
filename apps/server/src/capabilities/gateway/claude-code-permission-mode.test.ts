// Which permission mode an unattended claude-code item needs (docs/guides/agent-clis.md, "Permission
// mode for unattended items"): the real Claude Code CLI in a bubblewrap sandbox, through the
// gateway, asked by its (scripted) model to run a shell command that is not a file edit. In print
// mode nobody can grant a permission: under acceptEdits (Cairn's default) the command is refused
// and the model is told so; under bypassPermissions it runs, as the sandbox's own uid.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { claudeCodeCommand } from './agent-clis.test-support.ts';
import { blobText, gatewayServers, submitAgentRun } from './gateway-server.test-support.ts';

const start = gatewayServers();
const model = 'claude-sonnet-4-5';
// A command no permission mode short of bypassPermissions lets through (not a plain file edit); the
// scratch repository goes again, as a workspace may hold no embedded repository.
const command = 'git init -q scratch && git -C scratch rev-parse --git-dir > ran.txt && rm -rf scratch';

/** The text of the tool result the CLI sent back to the model in its second turn. */
function toolResultText(body: Record<string, unknown> | null): string {
  const messages = (body?.['messages'] ?? []) as { content: unknown }[];
  const last = messages.at(-1)?.content;
  return JSON.stringify(last);
}

async function runWithMode(permissionMode: 'acceptEdits' | 'bypassPermissions') {
  const [binary] = claudeCodeCommand();
  const { api, composition, models } = await start(
    {
      anthropic: [
        { toolCalls: [{ name: 'Bash', input: { command } }], usage: { inputTokens: 900, outputTokens: 40 } },
        { text: 'Done.', usage: { inputTokens: 1_000, outputTokens: 5 } },
      ],
    },
    { provider: 'anthropic', providerKey: 'sk-ant-provider-5f1e', runtimes: { 'claude-code': { command: binary, permissionMode } } },
  );
  const runId = await submitAgentRun(api, { network: false, runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Run the command.' } });
  const run = await composition.engine.waitForRun(runId);
  const artifacts = composition.engine.artifacts(runId, 'write') ?? {};
  expect(run.state, JSON.stringify(composition.engine.attempts(runId, 'write'))).toBe('succeeded');
  const turns = models.turns('anthropic');
  expect(turns).toHaveLength(2);
  // No patch at all when the workspace did not change.
  const patch = artifacts['patch'] === undefined ? '' : await blobText(composition, artifacts['patch']);
  return { patch, toolResult: toolResultText(turns[1]!.body) };
}

test(
  'under acceptEdits (the default) an unattended item cannot run a shell command: the CLI refuses it, as no one can grant it',
  { timeout: 120_000 },
  async () => {
    const { patch, toolResult } = await runWithMode('acceptEdits');
    expect(toolResult).toContain('require approval: git init -q scratch');
    expect(patch).not.toContain('ran.txt');
  },
);

test('under bypassPermissions the same command runs inside the sandbox', { timeout: 120_000 }, async () => {
  const { patch, toolResult } = await runWithMode('bypassPermissions');
  expect(toolResult).not.toContain('require approval');
  expect(patch).toContain('ran.txt');
  expect(patch).toContain('+.git');
});

test('the agent guide names the mode unattended items need, and why it is safe inside the sandbox', () => {
  const guide = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', 'docs', 'guides', 'agent-clis.md'), 'utf8');
  const section = guide.slice(guide.indexOf('### Permission mode for unattended items'));
  expect(section.length).toBeLessThan(guide.length);
  expect(section).toContain('permissionMode: bypassPermissions');
  expect(section).toContain('--dangerously-skip-permissions');
  expect(section).toMatch(/network/);
  expect(section).toMatch(/patch/);
});
