// The codex runtime against a stand-in CLI (the real one runs in the gateway's end-to-end test, in
// a sandbox): the conformance suite, and the exact command line and environment it starts.
import type { AgentRuntimeSpec } from '@cairn/core';
import { describeRuntimeAdapter } from '@cairn/conformance';
import { expect, test } from 'vitest';
import { temporaryDirectory } from '../../testing/worker.test-support.ts';
import type { CommandLaunchContext } from '../command-runtime.ts';
import { createCodexRuntime } from './codex-runtime.ts';
import { standInAgentCli } from './stand-in-agent-cli.test-support.ts';

const fakeCodex = standInAgentCli('codex');
const agentSpec = (prompt: string, extra: Partial<AgentRuntimeSpec> = {}): AgentRuntimeSpec => ({
  kind: 'agent',
  adapter: 'codex',
  model: 'gpt-5.5',
  prompt,
  ...extra,
});

describeRuntimeAdapter({
  name: 'codex (a stand-in CLI)',
  create: () => createCodexRuntime({ binary: fakeCodex }),
  scenario: (scenario) => agentSpec(JSON.stringify(scenario)),
});

test('runs `codex exec` against the cairn provider at OPENAI_BASE_URL over the Responses API, its home made in /tmp, the prompt after --', async () => {
  const seen: { argv: readonly string[]; context: CommandLaunchContext }[] = [];
  const launch = (argv: readonly string[], context: CommandLaunchContext) => {
    seen.push({ argv, context });
    return { command: '/usr/bin/env', args: ['--', ...argv] };
  };
  const workspace = temporaryDirectory();
  const env = { PATH: '/usr/bin:/bin', OPENAI_BASE_URL: 'http://127.0.0.1:7411/openai/v1', OPENAI_API_KEY: 'cairn-gateway', TMPDIR: workspace };
  const chunks: Uint8Array[] = [];
  const result = await createCodexRuntime({ binary: fakeCodex, launch }).run({
    workspace,
    spec: agentSpec('-Tidy the README'),
    env,
    signal: new AbortController().signal,
    sinks: { stdout: (chunk) => chunks.push(chunk), stderr: () => undefined },
  });
  expect(result).toEqual({ exitCode: 0, aborted: false });
  expect(seen).toEqual([
    {
      argv: [
        '/bin/sh',
        '-c',
        '/bin/mkdir -p "$CODEX_HOME" && exec "$@"',
        'codex',
        fakeCodex,
        'exec',
        '--json',
        '--skip-git-repo-check',
        '--dangerously-bypass-approvals-and-sandbox',
        '--disable',
        'plugins',
        ...['analytics.enabled=false', 'check_for_update_on_startup=false', 'model_provider="cairn"', 'model_providers.cairn.name="cairn"'].flatMap(
          (setting) => ['-c', setting],
        ),
        ...[
          'model_providers.cairn.base_url="http://127.0.0.1:7411/openai/v1"',
          'model_providers.cairn.env_key="OPENAI_API_KEY"',
          'model_providers.cairn.wire_api="responses"',
        ].flatMap((setting) => ['-c', setting]),
        '-m',
        'gpt-5.5',
        '--',
        '-Tidy the README',
      ],
      context: { workspace, env: { CODEX_HOME: `${workspace}/.codex`, ...env }, network: false },
    },
  ]);
  // The home was made before the CLI started, outside the workspace's files but for this test's TMPDIR.
  const init = JSON.parse(Buffer.concat(chunks).toString('utf8').split('\n')[0]!) as { env: Record<string, string> };
  expect(init.env['CODEX_HOME']).toBe(`${workspace}/.codex`);
});

test('a spec without a model, and a CLI that is not installed, are refused with what to do', async () => {
  const run = (settings: Parameters<typeof createCodexRuntime>[0], spec: AgentRuntimeSpec) =>
    createCodexRuntime(settings)
      .run({
        workspace: temporaryDirectory(),
        spec,
        env: { PATH: '/nonexistent' },
        signal: new AbortController().signal,
        sinks: { stdout: () => undefined, stderr: () => undefined },
      })
      .catch((error: unknown) => error);
  expect(await run({ binary: fakeCodex }, { kind: 'agent', adapter: 'codex', prompt: 'x' })).toMatchObject({
    code: 'CAIRN_RUNTIME_FAILED',
    path: 'runtime.model',
  });
  const missing = await run({}, agentSpec('x'));
  expect(missing).toMatchObject({ code: 'CAIRN_RUNTIME_FAILED', path: 'worker.codexRuntime.binary' });
  expect((missing as Error).message).toContain('npm install -g @openai/codex');
});
