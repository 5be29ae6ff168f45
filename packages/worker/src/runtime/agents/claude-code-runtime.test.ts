import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AgentRuntimeSpec, RuntimeResult } from '@cairn/core';
import { describeRuntimeAdapter } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, test, vi } from 'vitest';
import { isAlive, temporaryDirectory } from '../../testing/worker.test-support.ts';
import type { CommandLaunchContext } from '../command-runtime.ts';
import { createClaudeCodeRuntime, type ClaudeCodeRuntimeSettings } from './claude-code-runtime.ts';
import { standInAgentCli, standInSource } from './stand-in-agent-cli.test-support.ts';

// What the runtime adds to every run: no call but the model's, and the CLI's own files in /tmp.
const unattended = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  CLAUDE_CONFIG_DIR: '/tmp/.claude',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_TELEMETRY: '1',
};

const fakeClaude = standInAgentCli('claude');
const fakeDirectory = dirname(fakeClaude);

const agentSpec = (prompt: string, extra: Partial<AgentRuntimeSpec> = {}): AgentRuntimeSpec => ({ kind: 'agent', adapter: 'claude-code', prompt, ...extra });

// The suite gives the runtime an empty environment (no PATH), so the CLI is named by its path.
describeRuntimeAdapter({
  name: 'claude-code (a stand-in CLI)',
  create: () => createClaudeCodeRuntime({ binary: fakeClaude }),
  scenario: (scenario) => agentSpec(JSON.stringify(scenario)),
});
describeRuntimeAdapter({
  name: 'claude-code (a stand-in CLI, through a launch hook)',
  create: () => createClaudeCodeRuntime({ binary: fakeClaude, launch: (argv) => ({ command: '/usr/bin/env', args: ['--', ...argv] }) }),
  scenario: (scenario) => agentSpec(JSON.stringify(scenario)),
});

interface ClaudeRun {
  readonly result: RuntimeResult;
  readonly stdout: string;
  readonly stderr: string;
  readonly workspace: string;
}

async function runClaude(
  spec: AgentRuntimeSpec,
  options: { settings?: ClaudeCodeRuntimeSettings; env?: Record<string, string>; signal?: AbortSignal; network?: boolean; workspace?: string } = {},
): Promise<ClaudeRun> {
  const workspace = options.workspace ?? temporaryDirectory();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const result = await createClaudeCodeRuntime(options.settings ?? {}).run({
    workspace,
    spec,
    env: options.env ?? { PATH: `${fakeDirectory}:/usr/bin:/bin` },
    signal: options.signal ?? new AbortController().signal,
    sinks: { stdout: (chunk) => void stdout.push(Buffer.from(chunk)), stderr: (chunk) => void stderr.push(Buffer.from(chunk)) },
    ...(options.network === undefined ? {} : { network: options.network }),
  });
  return { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), workspace };
}

describe('ClaudeCodeRuntime', () => {
  test('runs `claude -p` in the workspace with stream-json, the model, max turns and the prompt after --, with exactly the given environment', async () => {
    const env = { PATH: `${fakeDirectory}:/usr/bin:/bin`, HOME: '/nonexistent', ANTHROPIC_API_KEY: 'sk-ant-test-key' };
    const run = await runClaude(agentSpec('--not-a-flag: tidy the README', { model: 'claude-sonnet-4-5', maxTurns: 7 }), { env });

    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    const events = run.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((event) => event['type'])).toEqual(['system', 'assistant', 'result']);
    expect(events[0]).toEqual({
      type: 'system',
      subtype: 'init',
      cwd: run.workspace,
      options: ['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--model', 'claude-sonnet-4-5', '--max-turns', '7'],
      prompt: '--not-a-flag: tidy the README',
      env: { ...unattended, ...env },
    });
    expect(run.stderr).toBe('a warning on stderr\n');
    expect(readFileSync(join(run.workspace, 'hello.txt'), 'utf8')).toBe('hello from claude\n');
  });

  test('without model and maxTurns in the spec, neither flag is passed; permissionMode is passed as set', async () => {
    const run = await runClaude(agentSpec('hello'), { settings: { permissionMode: 'bypassPermissions' } });
    const init = JSON.parse(run.stdout.split('\n')[0]!) as { options: string[] };
    expect(init.options).toEqual(['-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'bypassPermissions']);
  });

  test('defaultModel and defaultMaxTurns fill in what the spec leaves out; the spec still wins', async () => {
    const settings: ClaudeCodeRuntimeSettings = { defaultModel: 'claude-configured', defaultMaxTurns: 9 };
    const optionsOf = (run: ClaudeRun) => (JSON.parse(run.stdout.split('\n')[0]!) as { options: string[] }).options;
    expect(optionsOf(await runClaude(agentSpec('hello'), { settings }))).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'acceptEdits',
      '--model',
      'claude-configured',
      '--max-turns',
      '9',
    ]);
    expect(optionsOf(await runClaude(agentSpec('hello', { model: 'opus', maxTurns: 2 }), { settings }))).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'acceptEdits',
      '--model',
      'opus',
      '--max-turns',
      '2',
    ]);
  });

  test('apiKeyEnv hands the key named there to the CLI as ANTHROPIC_API_KEY, and under that name only', async () => {
    const run = await runClaude(agentSpec('hello'), {
      settings: { apiKeyEnv: 'TEAM_KEY' },
      env: { PATH: `${fakeDirectory}:/usr/bin:/bin`, TEAM_KEY: 'sk-ant-team' },
    });
    const init = JSON.parse(run.stdout.split('\n')[0]!) as { env: Record<string, string> };
    expect(init.env).toEqual({ ...unattended, PATH: `${fakeDirectory}:/usr/bin:/bin`, ANTHROPIC_API_KEY: 'sk-ant-team' });
  });

  test("package runs the installed package's claude entry with the node on the runtime's PATH", async () => {
    const folder = temporaryDirectory();
    writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: '@anthropic-ai/claude-code', bin: { claude: 'cli.js' } }));
    writeFileSync(join(folder, 'cli.js'), standInSource.replace(/^#!.*\n/, ''));
    const seen: (readonly string[])[] = [];
    const launch = (argv: readonly string[]) => (seen.push(argv), { command: argv[0]!, args: argv.slice(1) });
    const nodeFolder = join(process.execPath, '..');
    const run = await runClaude(agentSpec('hello'), { settings: { package: folder, launch }, env: { PATH: `${nodeFolder}:/usr/bin:/bin` } });
    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    expect(seen[0]!.slice(0, 3)).toEqual([join(nodeFolder, 'node'), join(folder, 'cli.js'), '-p']);
    expect(readFileSync(join(run.workspace, 'hello.txt'), 'utf8')).toBe('hello from claude\n');

    const notClaude = temporaryDirectory();
    writeFileSync(join(notClaude, 'package.json'), JSON.stringify({ name: 'left-pad' }));
    const refused = await runClaude(agentSpec('hello'), { settings: { package: notClaude } }).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ code: 'CAIRN_RUNTIME_FAILED', path: 'worker.claudeCodeRuntime.package' });
    expect((refused as Error).message).toContain('no "claude" program');
  });

  test('the launch hook gets the resolved CLI path and argv, the workspace, the environment and the network permission', async () => {
    const seen: { argv: readonly string[]; context: CommandLaunchContext }[] = [];
    const launch = (argv: readonly string[], context: CommandLaunchContext) => {
      seen.push({ argv, context });
      return { command: '/usr/bin/env', args: ['--', ...argv] };
    };
    const env = { PATH: `/nonexistent-dir:${fakeDirectory}:/usr/bin:/bin` };
    const run = await runClaude(agentSpec('hello', { model: 'opus' }), { settings: { launch }, env, network: true });
    expect(run.result.exitCode).toBe(0);
    expect(seen).toEqual([
      {
        argv: [fakeClaude, '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--model', 'opus', '--', 'hello'],
        context: { workspace: run.workspace, env: { ...unattended, ...env }, network: true },
      },
    ]);
  });

  test('when claude is not installed, the run rejects with CAIRN_RUNTIME_FAILED saying how to install it, and starts nothing', async () => {
    const emptyDirectory = temporaryDirectory();
    // A file named claude that is not executable does not count as installed.
    writeFileSync(join(emptyDirectory, 'claude'), 'not a program');
    const attempts: [string, ClaudeCodeRuntimeSettings, Record<string, string>, RegExp][] = [
      ['not on PATH', {}, { PATH: `${emptyDirectory}:/nonexistent` }, /no executable "claude" on the runtime's PATH \(".*:\/nonexistent"\)/],
      ['no PATH at all', {}, {}, /no executable "claude" on the runtime's PATH \(""\)/],
      [
        'a binary path that does not exist',
        { binary: '/nonexistent/bin/claude' },
        { PATH: fakeDirectory },
        /"\/nonexistent\/bin\/claude" is not an executable file/,
      ],
    ];
    for (const [what, settings, env, reason] of attempts) {
      const workspace = temporaryDirectory();
      const error = await runClaude(agentSpec('hello'), { settings, env, workspace }).catch((caught: unknown) => caught);
      expect(isCairnError(error, 'CAIRN_RUNTIME_FAILED'), what).toBe(true);
      const message = (error as Error).message;
      expect(message, what).toMatch(reason);
      expect(message, what).toContain('npm install -g @anthropic-ai/claude-code');
      expect((error as { path?: string }).path).toBe('worker.claudeCodeRuntime.binary');
      expect(readdirSync(workspace), `${what}: nothing was written`).toEqual([]);
    }
  });

  test("setupHint replaces the worker-setting advice with the host's own, keeping the install command", async () => {
    const error = await runClaude(agentSpec('hello'), {
      settings: { binary: '/nonexistent/claude', setupHint: 'Set runtimes.claude-code.command (npm install -g @anthropic-ai/claude-code).' },
    }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(
      'The claude-code runtime could not start the Claude Code CLI: "/nonexistent/claude" is not an executable file. Set runtimes.claude-code.command (npm install -g @anthropic-ai/claude-code).',
    );
  });

  test('a prompt too long for an argument rejects with CAIRN_RUNTIME_FAILED naming runtime.prompt, not "not installed"', async () => {
    const error = await runClaude(agentSpec('x'.repeat(200_000))).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_RUNTIME_FAILED')).toBe(true);
    expect((error as { path?: string }).path).toBe('runtime.prompt');
    expect((error as Error).message).toContain('the prompt is too long');
  });

  test('abort kills the CLI and what it started, and resolves as aborted', async () => {
    const controller = new AbortController();
    const workspace = temporaryDirectory();
    const pending = runClaude(agentSpec(JSON.stringify({ kind: 'spawn-and-wait' })), { workspace, signal: controller.signal, settings: { killGraceMs: 200 } });
    // Aborted once the CLI has started its child, however long the machine takes to get there.
    const childPid = () => (existsSync(join(workspace, 'child.pid')) ? Number(readFileSync(join(workspace, 'child.pid'), 'utf8')) : 0);
    await vi.waitFor(() => expect(childPid()).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    controller.abort();
    const run = await pending;
    expect(run.result).toMatchObject({ exitCode: null, aborted: true });
    const child = childPid();
    await vi.waitFor(() => expect(isAlive(child)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  test('the CLI exit code is the result (a failed session is not an error)', async () => {
    const run = await runClaude(agentSpec(JSON.stringify({ kind: 'exit', exitCode: 1 })));
    expect(run.result).toEqual({ exitCode: 1, aborted: false });
  });

  test('settings are checked: each bad option is CAIRN_CONFIG_INVALID naming it', () => {
    const attempt = (settings: unknown) => {
      try {
        createClaudeCodeRuntime(settings as never);
      } catch (error) {
        return isCairnError(error, 'CAIRN_CONFIG_INVALID') ? error.path : 'other error';
      }
      return 'accepted';
    };
    expect(attempt({ binary: 'bin/claude' })).toBe('worker.claudeCodeRuntime.binary');
    expect(attempt({ binary: '' })).toBe('worker.claudeCodeRuntime.binary');
    expect(attempt({ permissionMode: 'yolo' })).toBe('worker.claudeCodeRuntime.permissionMode');
    expect(attempt({ launch: 'bwrap' })).toBe('worker.claudeCodeRuntime.launch');
    expect(attempt({ maxTurns: 3 })).toBe('worker.claudeCodeRuntime.maxTurns');
    expect(attempt({ binary: '/opt/claude/bin/claude', permissionMode: 'plan' })).toBe('accepted');
    expect(attempt({ package: 'node_modules/@anthropic-ai/claude-code' })).toBe('worker.claudeCodeRuntime.package');
    expect(attempt({ binary: '/opt/claude/bin/claude', package: '/opt/claude/node_modules/@anthropic-ai/claude-code' })).toBe(
      'worker.claudeCodeRuntime.package',
    );
    expect(attempt({ defaultMaxTurns: 0 })).toBe('worker.claudeCodeRuntime.defaultMaxTurns');
    expect(attempt({ apiKeyEnv: 'not a name' })).toBe('worker.claudeCodeRuntime.apiKeyEnv');
  });
});
