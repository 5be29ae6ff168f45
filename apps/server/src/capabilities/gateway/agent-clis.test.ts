import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claudeCodeHeadless, codexHeadless, type AgentInvocation } from './agent-clis.test-support.ts';
import { startScriptedModels, type ScriptedModels } from './scripted-models.test-support.ts';

// The real Claude Code and Codex binaries, run directly (no sandbox, no gateway) against scripted
// model endpoints on loopback. The endpoints are also each CLI's HTTPS proxy, so a call it made
// anywhere else would be recorded (and refused) rather than leave the machine.

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(invocation: AgentInvocation, cwd: string, proxyUrl: string): Promise<Finished> {
  const [command, ...args] = invocation.argv;
  const env = {
    ...invocation.env,
    HTTPS_PROXY: proxyUrl,
    HTTP_PROXY: proxyUrl,
    https_proxy: proxyUrl,
    http_proxy: proxyUrl,
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(command ?? '', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A git repository with one commit, as a Cairn workspace is. */
function workspace(root: string): string {
  const folder = join(root, 'workspace');
  mkdirSync(folder);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Cairn Test', '-c', 'user.email=test@cairn.invalid', ...args], { cwd: folder });
  git('init', '-q', '-b', 'main');
  git('commit', '-q', '--allow-empty', '-m', 'baseline');
  return folder;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function temporaryFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-agent-cli-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

async function scripted(...args: Parameters<typeof startScriptedModels>): Promise<ScriptedModels> {
  const models = await startScriptedModels(...args);
  cleanups.push(() => models.close());
  return models;
}

describe('Claude Code against the scripted Anthropic Messages API', () => {
  it('writes a file with its Write tool, then answers, in exactly the scripted turns', async () => {
    const root = temporaryFolder();
    const cwd = workspace(root);
    const home = join(root, 'home');
    mkdirSync(home);
    const target = join(cwd, 'hello.txt');
    const models = await scripted({
      anthropic: [
        {
          text: 'Creating the file.',
          toolCalls: [{ name: 'Write', input: { file_path: target, content: 'hello from the scripted model\n' } }],
          usage: { inputTokens: 120, outputTokens: 30, cacheReadTokens: 1000, cacheWriteTokens: 200 },
        },
        { text: 'Created hello.txt.', usage: { inputTokens: 80, outputTokens: 7, cacheReadTokens: 1200 } },
      ],
    });

    const finished = await run(
      claudeCodeHeadless({ baseUrl: models.baseUrls.anthropic, apiKey: 'sk-ant-scripted', model: 'claude-sonnet-4-5', prompt: 'Create hello.txt', home }),
      cwd,
      models.proxyUrl,
    );

    expect(finished.code, finished.stderr).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('hello from the scripted model\n');
    expect(models.requests.map((request) => `${request.role} ${request.method} ${request.path}`)).toEqual(['turn POST /v1/messages', 'turn POST /v1/messages']);
    const [first, second] = models.turns('anthropic');
    expect(first?.stream).toBe(true);
    expect(first?.headers['x-api-key']).toBe('sk-ant-scripted');
    expect(first?.query).toBe('?beta=true');
    // The second turn carries the tool's result for the scripted tool_use id.
    const lastMessage = (second?.body?.['messages'] as { role: string; content: { type: string; tool_use_id?: string; is_error?: boolean }[] }[]).at(-1);
    expect(lastMessage?.content).toContainEqual(expect.objectContaining({ type: 'tool_result', tool_use_id: 'toolu_scripted_1_0' }));
    expect(lastMessage?.content.find((block) => block.type === 'tool_result')?.is_error ?? false).toBe(false);

    const result = jsonLines(finished.stdout).find((event) => event['type'] === 'result');
    expect(result).toMatchObject({
      subtype: 'success',
      num_turns: 2,
      result: 'Created hello.txt.',
      usage: { input_tokens: 200, output_tokens: 37, cache_read_input_tokens: 2200, cache_creation_input_tokens: 200 },
    });
  });
});

describe('Codex against the scripted OpenAI Responses API', () => {
  it('writes a file with apply_patch and another with exec_command, then answers, in exactly the scripted turns', async () => {
    const root = temporaryFolder();
    const cwd = workspace(root);
    const home = join(root, 'home');
    mkdirSync(join(home, '.codex'), { recursive: true });
    const models = await scripted({
      responses: [
        {
          toolCalls: [{ name: 'apply_patch', input: '*** Begin Patch\n*** Add File: hello.txt\n+hello from the scripted model\n*** End Patch\n' }],
          usage: { inputTokens: 500, outputTokens: 40, cacheReadTokens: 3000 },
        },
        {
          toolCalls: [{ name: 'exec_command', input: { cmd: "printf 'from the shell\\n' > shell.txt" } }],
          usage: { inputTokens: 60, outputTokens: 20, cacheReadTokens: 3500 },
        },
        { text: 'Created hello.txt and shell.txt.', usage: { inputTokens: 70, outputTokens: 9, cacheReadTokens: 3600 } },
      ],
    });

    const finished = await run(
      codexHeadless({ baseUrl: models.baseUrls.openai, apiKey: 'sk-scripted', model: 'gpt-5.5', prompt: 'Create hello.txt and shell.txt', home }),
      cwd,
      models.proxyUrl,
    );

    expect(finished.code, finished.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'hello.txt'), 'utf8')).toBe('hello from the scripted model\n');
    expect(readFileSync(join(cwd, 'shell.txt'), 'utf8')).toBe('from the shell\n');
    expect(models.requests.map((request) => `${request.role} ${request.method} ${request.path}`)).toEqual([
      'turn POST /v1/responses',
      'turn POST /v1/responses',
      'turn POST /v1/responses',
    ]);
    const [first, second, third] = models.turns('responses');
    expect(first?.stream).toBe(true);
    expect(first?.headers['authorization']).toBe('Bearer sk-scripted');
    expect(first?.body?.['tools']).toContainEqual(expect.objectContaining({ type: 'custom', name: 'apply_patch' }));
    // Each later turn carries the previous tool call's output under the scripted call id.
    expect(second?.body?.['input']).toContainEqual(expect.objectContaining({ type: 'custom_tool_call_output', call_id: 'call_scripted_1_0' }));
    expect(third?.body?.['input']).toContainEqual(expect.objectContaining({ type: 'function_call_output', call_id: 'call_scripted_2_0' }));

    const events = jsonLines(finished.stdout);
    expect(events.filter((event) => event['type'] === 'error' || (event['item'] as { type?: string } | undefined)?.type === 'error')).toEqual([]);
    expect(events.find((event) => event['type'] === 'item.completed' && (event['item'] as { type: string }).type === 'agent_message')).toMatchObject({
      item: { text: 'Created hello.txt and shell.txt.' },
    });
    // Codex reports input including the cached part, as the Responses API does.
    expect(events.find((event) => event['type'] === 'turn.completed')).toMatchObject({
      usage: { input_tokens: 500 + 3000 + 60 + 3500 + 70 + 3600, cached_input_tokens: 3000 + 3500 + 3600, output_tokens: 40 + 20 + 9 },
    });
  });
});
