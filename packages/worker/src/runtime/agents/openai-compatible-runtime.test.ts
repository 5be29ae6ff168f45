import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeResult } from '@cairn/core';
import { describeRuntimeAdapter, type RuntimeAdapterScenario } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { isAlive, temporaryDirectory } from '../../testing/worker.test-support.ts';
import type { CommandLaunchContext } from '../command-runtime.ts';
import { createOpenAiCompatibleRuntime, type OpenAiCompatibleRuntimeSettings } from './openai-compatible-runtime.ts';
import {
  answer,
  promptOf,
  startScriptedChatServer,
  toolCalls,
  toolResults,
  type ReceivedChatRequest,
  type ScriptedAnswer,
  type ScriptedChatServer,
} from './scripted-chat-server.test-support.ts';

/**
 * The scripted model for the conformance suite: the prompt carries the scenario, and the model acts
 * it out with its tools, one step per tool result it has seen — as a real model would be asked to.
 */
function actOutScenario(request: ReceivedChatRequest): ScriptedAnswer {
  const scenario = JSON.parse(promptOf(request).slice('conformance:'.length)) as RuntimeAdapterScenario;
  const step = toolResults(request).length;
  switch (scenario.kind) {
    case 'write-file':
      return step === 0 ? toolCalls([['write_file', { path: scenario.path, content: scenario.content }]]) : answer('Wrote the file.');
    case 'exit':
      return toolCalls([['finish', { exitCode: scenario.exitCode }]]);
    case 'print':
      return step === 0
        ? toolCalls([['exec', { argv: ['/bin/sh', '-c', 'printf %s "$1"; printf %s "$2" >&2', 'sh', scenario.stdout, scenario.stderr] }]])
        : answer(null);
    case 'print-working-directory':
      return step === 0 ? toolCalls([['exec', { argv: ['/bin/sh', '-c', 'pwd'] }]]) : answer(null);
    case 'run-until-aborted':
      return toolCalls([['exec', { argv: ['/bin/sleep', '60'] }]]);
  }
}

let conformanceServer: ScriptedChatServer | undefined;
beforeAll(async () => {
  conformanceServer = await startScriptedChatServer(actOutScenario);
});
afterAll(() => conformanceServer?.close());

// `transcript: false`: the suite checks stdout and stderr byte for byte, so the runtime's own
// lines are left out and the sinks hold only what the model's commands printed.
describeRuntimeAdapter({
  name: 'openai-compatible (scripted loopback endpoint)',
  create: () => createOpenAiCompatibleRuntime({ baseUrl: conformanceServer!.baseUrl, model: 'scripted', transcript: false }),
  scenario: (scenario) => ({ kind: 'agent', adapter: 'openai-compatible', prompt: `conformance:${JSON.stringify(scenario)}` }),
});

const servers: ScriptedChatServer[] = [];
afterAll(() => Promise.all(servers.map((server) => server.close())));

async function serve(script: (request: ReceivedChatRequest, index: number) => ScriptedAnswer): Promise<ScriptedChatServer> {
  const server = await startScriptedChatServer(script);
  servers.push(server);
  return server;
}

interface AgentRun {
  readonly result: RuntimeResult;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one agent spec against `server` in `workspace` and collects its output. */
async function runAgent(
  server: { readonly baseUrl: string },
  options: {
    settings?: Partial<OpenAiCompatibleRuntimeSettings>;
    workspace?: string;
    env?: Record<string, string>;
    signal?: AbortSignal;
    maxTurns?: number;
    network?: boolean;
    prompt?: string;
  } = {},
): Promise<AgentRun> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const runtime = createOpenAiCompatibleRuntime({ baseUrl: server.baseUrl, model: 'test-model', retryDelayMs: 10, ...options.settings });
  const result = await runtime.run({
    workspace: options.workspace ?? temporaryDirectory(),
    spec: {
      kind: 'agent',
      adapter: 'openai-compatible',
      prompt: options.prompt ?? 'Do the task.',
      ...(options.maxTurns === undefined ? {} : { maxTurns: options.maxTurns }),
    },
    env: options.env ?? { PATH: '/usr/bin:/bin' },
    signal: options.signal ?? new AbortController().signal,
    sinks: { stdout: (chunk) => void stdout.push(Buffer.from(chunk)), stderr: (chunk) => void stderr.push(Buffer.from(chunk)) },
    ...(options.network === undefined ? {} : { network: options.network }),
  });
  return { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
}

const apiKey = 'sk-test-5f3e9a1c-secret';

describe('OpenAiCompatibleRuntime', () => {
  test('writes a file, runs a command, answers: tool results go back to the model, the key only as the Authorization header', async () => {
    const server = await serve((request) => {
      switch (toolResults(request).length) {
        case 0:
          return toolCalls([['write_file', { path: 'hello.txt', content: 'hello from the model\n' }]], 'I will write the file.');
        case 1:
          return toolCalls([['exec', { argv: ['cat', 'hello.txt'] }]]);
        case 2:
          return toolCalls([['exec', { argv: ['/bin/sh', '-c', 'echo "key=${TEST_API_KEY:-absent} other=$OTHER"'] }]]);
        default:
          return answer('All done.');
      }
    });
    const workspace = temporaryDirectory();
    const run = await runAgent(server, {
      workspace,
      settings: { apiKeyEnv: 'TEST_API_KEY' },
      env: { PATH: '/usr/bin:/bin', TEST_API_KEY: apiKey, OTHER: 'visible' },
      prompt: 'Write hello.txt',
    });

    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    expect(readFileSync(join(workspace, 'hello.txt'), 'utf8')).toBe('hello from the model\n');
    expect(server.requests).toHaveLength(4);
    for (const request of server.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${apiKey}`);
      expect(request.body.model).toBe('test-model');
      expect(request.body.tools.map((tool) => tool.function.name).sort()).toEqual(['exec', 'finish', 'list_files', 'read_file', 'write_file']);
    }
    const first = server.requests[0]!.body.messages;
    expect(first.map((message) => message.role)).toEqual(['system', 'user']);
    expect(first[1]!.content).toBe('Write hello.txt');
    // Each tool result answers its call by id, after the assistant message that made it.
    const second = server.requests[1]!.body.messages;
    expect(second.at(-2)).toMatchObject({
      role: 'assistant',
      content: 'I will write the file.',
      tool_calls: [{ id: 'call_0_write_file', function: { name: 'write_file' } }],
    });
    expect(second.at(-1)).toEqual({ role: 'tool', tool_call_id: 'call_0_write_file', content: 'wrote 21 bytes to hello.txt' });
    expect(toolResults(server.requests[2]!)[1]).toBe('exit code 0\nstdout:\nhello from the model\n\nstderr:\n(empty)');
    // The model's commands do not get the model's key; the rest of the environment they do.
    expect(toolResults(server.requests[3]!)[2]).toContain('key=absent other=visible');

    expect(run.stdout).toContain('I will write the file.\n');
    expect(run.stdout).toContain('[openai-compatible] turn 1: write_file {"path":"hello.txt","content":"hello from the model\\n"}\n');
    expect(run.stdout).toContain('[openai-compatible]   -> wrote 21 bytes\n');
    expect(run.stdout).toContain('hello from the model\n'); // what `cat` printed, streamed
    expect(run.stdout.endsWith('All done.\n[openai-compatible] finished after 4 turns\n')).toBe(true);
    expect(run.stderr).toBe('');
    expect(run.stdout + run.stderr).not.toContain(apiKey);
  });

  test('no Authorization header without a key: apiKeyEnv unset, or set but missing from the environment (stderr says so)', async () => {
    const server = await serve(() => answer('hi'));
    const withoutSetting = await runAgent(server);
    const missing = await runAgent(server, { settings: { apiKeyEnv: 'TEST_API_KEY' } });
    expect(server.requests.map((request) => request.headers.authorization)).toEqual([undefined, undefined]);
    expect(withoutSetting.stderr).toBe('');
    expect(missing.stderr).toContain('TEST_API_KEY is not set in the runtime');
    expect(missing.result.exitCode).toBe(0);
  });

  test('paths out of the workspace are refused — .., absolute, through a symlink, a dangling link — and the model is told; the run goes on', async () => {
    const parent = temporaryDirectory();
    const workspace = join(parent, 'workspace');
    const outside = join(parent, 'outside');
    mkdirSync(workspace);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'outside');
    symlinkSync('/etc', join(workspace, 'etc-link'));
    symlinkSync(outside, join(workspace, 'outside-link'));
    symlinkSync(join(outside, 'created-by-link.txt'), join(workspace, 'dangling'));
    writeFileSync(join(workspace, 'notes.txt'), 'inside');
    symlinkSync('notes.txt', join(workspace, 'notes-link'));
    mkdirSync(join(workspace, 'real-dir'));
    symlinkSync('real-dir', join(workspace, 'dir-link'));
    const attempts: [string, unknown][] = [
      ['read_file', { path: '../outside/secret.txt' }],
      ['read_file', { path: '/etc/passwd' }],
      ['read_file', { path: 'etc-link/passwd' }],
      ['read_file', { path: 'outside-link/secret.txt' }],
      ['write_file', { path: '../escape.txt', content: 'x' }],
      ['write_file', { path: 'sub/../../escape.txt', content: 'x' }],
      ['write_file', { path: 'outside-link/new.txt', content: 'x' }],
      ['write_file', { path: 'outside-link/deeper/new.txt', content: 'x' }],
      ['write_file', { path: 'dangling', content: 'x' }],
      ['write_file', { path: join(outside, 'absolute.txt'), content: 'x' }],
      ['list_files', { path: '..' }],
      ['list_files', { path: 'etc-link' }],
    ];
    const allowed: [string, unknown][] = [
      ['write_file', { path: 'sub/../inside.txt', content: 'fine' }],
      ['read_file', { path: 'notes-link' }],
      ['write_file', { path: 'dir-link/deeper/through-link.txt', content: 'linked' }],
    ];
    const server = await serve((request) => (toolResults(request).length === 0 ? toolCalls([...attempts, ...allowed]) : answer('Done.')));
    const run = await runAgent(server, { workspace });

    const results = toolResults(server.requests[1]!);
    expect(results).toHaveLength(attempts.length + allowed.length);
    results.slice(0, attempts.length).forEach((result, index) => expect(result, JSON.stringify(attempts[index])).toMatch(/^refused: /));
    expect(results[1]).toContain('absolute paths are refused');
    expect(results[2]).toContain('symbolic link that points outside');
    expect(results[8]).toContain('target does not exist');
    expect(results.slice(attempts.length)).toEqual(['wrote 4 bytes to sub/../inside.txt', 'inside', 'wrote 6 bytes to dir-link/deeper/through-link.txt']);
    expect(readFileSync(join(workspace, 'real-dir/deeper/through-link.txt'), 'utf8'), 'a link that stays inside is followed').toBe('linked');
    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    expect(readdirSync(outside)).toEqual(['secret.txt']);
    expect(readdirSync(parent).sort()).toEqual(['outside', 'workspace']);
    expect(readFileSync(join(workspace, 'inside.txt'), 'utf8')).toBe('fine');
  });

  test('stops with exit 1 after maxTurns requests when the model keeps calling tools (spec first, then settings)', async () => {
    const server = await serve(() => toolCalls([['list_files', {}]]));
    const fromSpec = await runAgent(server, { maxTurns: 3, settings: { maxTurns: 10 } });
    expect(fromSpec.result).toEqual({ exitCode: 1, aborted: false });
    expect(server.requests).toHaveLength(3);
    expect(fromSpec.stderr).toContain('after 3 turns (maxTurns); exit code 1');
    const fromSettings = await runAgent(server, { settings: { maxTurns: 2 } });
    expect(fromSettings.result.exitCode).toBe(1);
    expect(server.requests).toHaveLength(5);
  });

  test('abort while a request is in flight cancels it and resolves promptly as aborted', async () => {
    const server = await serve(() => 'no-answer');
    const controller = new AbortController();
    const pending = runAgent(server, { signal: controller.signal });
    // Aborted once the request is at the server (in flight), however long the machine takes to send it.
    await vi.waitFor(() => expect(server.requests).toHaveLength(1), { timeout: 10_000, interval: 20 });
    const abortedAt = Date.now();
    controller.abort();
    const run = await pending;
    expect(run.result).toEqual({ exitCode: null, aborted: true });
    expect(Date.now() - abortedAt).toBeLessThan(2_000);
    await vi.waitFor(() => expect(server.abandoned(), 'the server saw the request given up').toBe(1), { timeout: 10_000, interval: 20 });
  });

  test('abort while a command runs kills it and resolves as aborted', async () => {
    const workspace = temporaryDirectory();
    const server = await serve(() => toolCalls([['exec', { argv: ['/bin/sh', '-c', 'echo $$ > pid; exec sleep 30'] }]]));
    const controller = new AbortController();
    const pending = runAgent(server, { workspace, signal: controller.signal, settings: { killGraceMs: 200 } });
    // Aborted once the command runs (it wrote its pid), however long the machine takes to get there.
    const pid = () =>
      existsSync(join(workspace, 'pid')) && readFileSync(join(workspace, 'pid'), 'utf8').endsWith('\n')
        ? Number(readFileSync(join(workspace, 'pid'), 'utf8'))
        : 0;
    await vi.waitFor(() => expect(pid()).toBeGreaterThan(0), { timeout: 10_000, interval: 20 });
    controller.abort();
    const run = await pending;
    expect(run.result).toEqual({ exitCode: null, aborted: true });
    expect(isAlive(pid())).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  test('a 500 is retried after a delay, then the run goes on', async () => {
    const server = await serve((_request, index) => (index === 0 ? { status: 500, body: { error: { message: 'overloaded' } } } : answer('ok')));
    const run = await runAgent(server);
    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    expect(server.requests).toHaveLength(2);
    expect(run.stderr).toContain('the endpoint answered 500 Internal Server Error: overloaded; retrying in 10 ms (retry 1 of 2)');
  });

  test('a 429 or 503 that persists fails the run with exit 1 after maxRetries retries', async () => {
    const server = await serve((_request, index) => ({
      status: index % 2 === 0 ? 429 : 503,
      body: { error: { message: 'slow down' } },
      headers: { 'retry-after': '0' },
    }));
    const run = await runAgent(server, { settings: { maxRetries: 2 } });
    expect(run.result).toEqual({ exitCode: 1, aborted: false });
    expect(server.requests).toHaveLength(3);
    expect(run.stderr).toContain('turn 1: the endpoint answered 429 Too Many Requests: slow down (after 2 retries); stopping (exit code 1)');
  });

  test('a 401 is not retried, and the key the endpoint echoes back is redacted from stderr', async () => {
    const server = await serve((request) => ({
      status: 401,
      body: { error: { message: `Incorrect API key provided: ${String(request.headers.authorization).slice('Bearer '.length)}` } },
    }));
    const run = await runAgent(server, { settings: { apiKeyEnv: 'TEST_API_KEY' }, env: { PATH: '/usr/bin:/bin', TEST_API_KEY: apiKey } });
    expect(run.result).toEqual({ exitCode: 1, aborted: false });
    expect(server.requests).toHaveLength(1);
    expect(run.stderr).toContain('answered 401 Unauthorized: Incorrect API key provided: [redacted:TEST_API_KEY]');
    expect(run.stderr + run.stdout).not.toContain(apiKey);
  });

  test('a request with no answer within requestTimeoutMs is retried', async () => {
    const server = await serve((_request, index) => (index === 0 ? 'no-answer' : answer('late but fine')));
    const run = await runAgent(server, { settings: { requestTimeoutMs: 300, retryDelayMs: 0 } });
    expect(run.result).toEqual({ exitCode: 0, aborted: false });
    expect(server.requests).toHaveLength(2);
    expect(run.stderr).toContain('the request got no answer within 300 ms; retrying');
    expect(run.stdout).toContain('late but fine\n');
  });

  test('an endpoint that cannot be reached, or answers something that is not a completion, fails the run with exit 1', async () => {
    const closed = await startScriptedChatServer(() => answer('never'));
    await closed.close();
    const unreachable = await runAgent(closed, { settings: { maxRetries: 0 } });
    expect(unreachable.result).toEqual({ exitCode: 1, aborted: false });
    expect(unreachable.stderr).toContain('the request failed: ECONNREFUSED; stopping (exit code 1)');

    const server = await serve(() => ({ body: { choices: [] } }));
    const nonsense = await runAgent(server);
    expect(nonsense.result).toEqual({ exitCode: 1, aborted: false });
    expect(nonsense.stderr).toContain("the endpoint's answer is not a chat completion");
  });

  test('exec runs through the launch hook with the workspace, the environment without the key, and the network permission', async () => {
    const seen: { argv: readonly string[]; context: CommandLaunchContext }[] = [];
    const launch = (argv: readonly string[], context: CommandLaunchContext) => {
      seen.push({ argv, context });
      return { command: '/bin/sh', args: ['-c', 'echo "wrapped: $*"', 'wrapper', ...argv] };
    };
    const server = await serve((request) => (toolResults(request).length === 0 ? toolCalls([['exec', { argv: ['echo', 'hi'] }]]) : answer('ok')));
    const workspace = temporaryDirectory();
    const env = { PATH: '/usr/bin:/bin', TEST_API_KEY: apiKey, A: '1' };
    await runAgent(server, { workspace, env, network: true, settings: { launch, apiKeyEnv: 'TEST_API_KEY' } });
    expect(seen).toEqual([{ argv: ['echo', 'hi'], context: { workspace, env: { PATH: '/usr/bin:/bin', A: '1' }, network: true } }]);
    expect(toolResults(server.requests[1]!)[0]).toBe('exit code 0\nstdout:\nwrapped: echo hi\n\nstderr:\n(empty)');

    await runAgent(server, { settings: { launch } });
    expect(seen[1]!.context.network, 'no network unless the invocation grants it').toBe(false);
  });

  test('exec: a command over execTimeoutMs is killed, a missing program is reported, and output is capped for the model but streamed whole', async () => {
    const big = 'x'.repeat(1_000);
    const server = await serve((request) =>
      toolResults(request).length === 0
        ? toolCalls([
            ['exec', { argv: ['sleep', '10'] }],
            ['exec', { argv: ['cairn-no-such-program'] }],
            ['exec', { argv: ['/bin/sh', '-c', `printf ${big}`] }],
            ['write_file', { path: 'big.txt', content: big }],
            ['read_file', { path: 'big.txt' }],
          ])
        : answer('ok'),
    );
    const started = Date.now();
    const run = await runAgent(server, { settings: { execTimeoutMs: 300, killGraceMs: 100, maxToolOutputBytes: 256 } });
    expect(Date.now() - started).toBeLessThan(5_000);
    const [slow, missing, loud, , read] = toolResults(server.requests[1]!);
    expect(slow).toMatch(/^timed out after 300 ms and was killed\n/);
    expect(missing).toBe('error: could not start "cairn-no-such-program": it was not found on PATH ("/usr/bin:/bin")');
    expect(loud).toBe(`exit code 0\nstdout:\n${'x'.repeat(256)}\n[… 744 more bytes not shown]\nstderr:\n(empty)`);
    expect(read).toBe(`${'x'.repeat(256)}\n[… 744 more bytes not shown]`);
    expect(run.stdout).toContain(big);
    expect(run.result.exitCode).toBe(0);
  });

  test('list_files lists recursively, marks directories and links, and does not descend into .git', async () => {
    const workspace = temporaryDirectory();
    mkdirSync(join(workspace, 'src/nested'), { recursive: true });
    mkdirSync(join(workspace, '.git'));
    writeFileSync(join(workspace, '.git/HEAD'), 'ref');
    writeFileSync(join(workspace, 'src/nested/a.ts'), '');
    writeFileSync(join(workspace, 'README.md'), '');
    symlinkSync('README.md', join(workspace, 'readme-link'));
    const server = await serve((request) =>
      toolResults(request).length === 0
        ? toolCalls([
            ['list_files', {}],
            ['list_files', { path: 'src' }],
          ])
        : answer('ok'),
    );
    await runAgent(server, { workspace });
    expect(toolResults(server.requests[1]!)).toEqual([
      '.git/\nREADME.md\nreadme-link -> README.md\nsrc/\nsrc/nested/\nsrc/nested/a.ts',
      'src/nested/\nsrc/nested/a.ts',
    ]);
  });

  test('an unknown tool, arguments that are not JSON or miss a field are errors for the model; finish sets the exit code', async () => {
    const server = await serve((request) => {
      if (toolResults(request).length > 0) return toolCalls([['finish', { exitCode: 7 }]], 'I cannot do this.');
      const calls = toolCalls([
        ['no_such_tool', {}],
        ['read_file', { paths: 'x' }],
        ['read_file', {}],
      ]) as { body: { choices: { message: { tool_calls: { function: { arguments: string } }[] } }[] } };
      calls.body.choices[0]!.message.tool_calls[2]!.function.arguments = '{"path": "x"';
      return calls;
    });
    const run = await runAgent(server);
    expect(toolResults(server.requests[1]!)).toEqual([
      'error: unknown tool "no_such_tool"; the tools are read_file, write_file, list_files, exec, finish',
      'error: invalid arguments: path: Invalid input: expected string, received undefined',
      'error: the arguments are not valid JSON',
    ]);
    expect(run.result).toEqual({ exitCode: 7, aborted: false });
    expect(run.stdout).toContain('I cannot do this.\n');
    expect(server.requests).toHaveLength(2);
  });

  test('a spec without a model (and no default) or for another runtime rejects with CAIRN_RUNTIME_FAILED before any request', async () => {
    const server = await serve(() => answer('never'));
    const runtime = createOpenAiCompatibleRuntime({ baseUrl: server.baseUrl });
    const sinks = { stdout: () => undefined, stderr: () => undefined };
    const error = await runtime
      .run({
        workspace: temporaryDirectory(),
        spec: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' },
        env: {},
        signal: new AbortController().signal,
        sinks,
      })
      .catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_RUNTIME_FAILED')).toBe(true);
    expect((error as { path?: string }).path).toBe('runtime.model');
    expect((error as Error).message).toContain('worker.openAiCompatibleRuntime.model on the worker');
    expect(server.requests).toHaveLength(0);
    // A host names its own option for the default model.
    const hinted = createOpenAiCompatibleRuntime({ baseUrl: server.baseUrl, modelHint: 'runtimes.openai-compatible.model in cairn.config' });
    const hintedError = await hinted
      .run({
        workspace: temporaryDirectory(),
        spec: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' },
        env: {},
        signal: new AbortController().signal,
        sinks,
      })
      .catch((caught: unknown) => caught);
    expect((hintedError as Error).message).toBe(
      'The openai-compatible runtime has no model to ask: set runtime.model in the item or runtimes.openai-compatible.model in cairn.config.',
    );
  });

  test('settings are checked: each bad option is CAIRN_CONFIG_INVALID naming it', () => {
    const attempt = (settings: unknown) => {
      try {
        createOpenAiCompatibleRuntime(settings as never);
      } catch (error) {
        return isCairnError(error, 'CAIRN_CONFIG_INVALID') ? error.path : 'other error';
      }
      return 'accepted';
    };
    const baseUrl = 'http://127.0.0.1:1/v1';
    expect(attempt({})).toBe('worker.openAiCompatibleRuntime.baseUrl');
    expect(attempt({ baseUrl: 'ftp://example.com/v1' })).toBe('worker.openAiCompatibleRuntime.baseUrl');
    expect(attempt({ baseUrl, apiKeyEnv: 'sk-abc' })).toBe('worker.openAiCompatibleRuntime.apiKeyEnv');
    expect(attempt({ baseUrl, maxTurns: 0 })).toBe('worker.openAiCompatibleRuntime.maxTurns');
    expect(attempt({ baseUrl, launch: 'bwrap' })).toBe('worker.openAiCompatibleRuntime.launch');
    expect(attempt({ baseUrl, apiKey: 'sk-abc' })).toBe('worker.openAiCompatibleRuntime.apiKey');
    expect(attempt({ baseUrl })).toBe('accepted');
  });
});
