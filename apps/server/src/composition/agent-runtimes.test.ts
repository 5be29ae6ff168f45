// The agent runtimes a team configures in cairn.config (`runtimes:`), through a running server:
// `openai-compatible` against a scripted Chat Completions endpoint on loopback (reached from the
// worker on the host, never from inside a sandbox), `claude-code` against a stand-in `claude` program
// that prints stream-JSON as the real CLI does, run in a real bubblewrap sandbox; submit refusing an
// adapter that is not configured; and what `cairn doctor` says about each runtime.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { diagnoseServer } from '../cli/diagnose-server.ts';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { codexCommand } from '../capabilities/gateway/agent-clis.test-support.ts';
import { composeServer } from './compose-server.ts';

const start = runningServers();
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

interface ChatRequest {
  readonly headers: IncomingHttpHeaders;
  readonly body: { readonly model: string; readonly messages: readonly { readonly role: string; readonly content?: string | null }[] };
}

/** A loopback Chat Completions endpoint answering each request with what `script` returns for it. */
async function scriptedEndpoint(script: (request: ChatRequest) => unknown): Promise<{ baseUrl: string; requests: ChatRequest[] }> {
  const requests: ChatRequest[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/chat/completions') return void response.writeHead(404).end();
      const received: ChatRequest = { headers: request.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
      requests.push(received);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(script(received)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests };
}

const completion = (message: object) => ({
  id: 'chatcmpl-scripted',
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', content: null, ...message } }],
});
const callTool = (name: string, args: object) =>
  completion({ tool_calls: [{ id: `call_${name}`, type: 'function', function: { name, arguments: JSON.stringify(args) } }] });

/**
 * A stand-in for the Claude Code CLI: `--version` prints a version; otherwise it records its
 * arguments and whether it got the API key, makes a change in the workspace, and prints stream-JSON
 * lines as `claude -p --output-format stream-json --verbose` does. Kept outside /usr, so the
 * sandbox must be given its folder.
 */
function standInClaude(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-claude-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  chmodSync(folder, 0o755);
  mkdirSync(join(folder, 'bin'), { mode: 0o755 });
  const program = join(folder, 'bin', 'claude');
  writeFileSync(
    program,
    [
      '#!/bin/sh',
      'if [ "$1" = --version ]; then echo "2.0.14 (Claude Code)"; exit 0; fi',
      'for argument in "$@"; do printf "%s\\n" "$argument"; done > claude-arguments.txt',
      'if [ "$ANTHROPIC_API_KEY" = "$EXPECTED_KEY" ]; then echo "key: from the secret store" > key.txt; else echo "key: missing" > key.txt; fi',
      'echo "# Changes" > CHANGES.md',
      'printf \'%s\\n\' \'{"type":"system","subtype":"init","cwd":"/workspace","session_id":"s-1","tools":["Write"],"model":"claude-test"}\'',
      'printf \'%s\\n\' \'{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Write","input":{"file_path":"CHANGES.md"}}]},"session_id":"s-1"}\'',
      'printf \'%s\\n\' \'{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"written"}]},"session_id":"s-1"}\'',
      'printf \'%s\\n\' \'{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"Wrote CHANGES.md","session_id":"s-1"}\'',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return program;
}

async function submit(
  api: (path: string, init?: RequestInit) => Promise<Response>,
  spec: object,
): Promise<{ status: number; answer: { runId?: string; code?: string; path?: string; message?: string; issues?: { path: string; message: string }[] } }> {
  const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
  return { status: response.status, answer: (await response.json()) as never };
}

async function blobText(composition: Awaited<ReturnType<typeof start>>['composition'], digest: string | undefined): Promise<string> {
  expect(digest).toBeDefined();
  return Buffer.from((await composition.storage.get(`blobs/${digest!.slice('sha256:'.length)}`))!).toString('utf8');
}

/** The lines a patch adds to one file. */
function addedLines(patch: string, file: string): string[] {
  const section = patch.split(/^diff --git /m).find((part) => part.startsWith(`a/${file} `));
  expect(section, `the patch changes ${file}`).toBeDefined();
  return section!
    .split('\n')
    .filter((line) => line.startsWith('+') && !line.startsWith('+++'))
    .map((line) => line.slice(1));
}

test(
  'openai-compatible from cairn.config: a multi-turn tool loop against a loopback endpoint, the API key from the secret store, the patch and outcome kept',
  { timeout: 90_000 },
  async () => {
    const key = 'sk-scripted-4c1e9a7f';
    const endpoint = await scriptedEndpoint((request) => {
      const results = request.body.messages.filter((message) => message.role === 'tool').length;
      if (results === 0) return callTool('write_file', { path: 'notes/summary.md', content: 'first line\n' });
      if (results === 1) return callTool('exec', { argv: ['/bin/sh', '-c', 'echo second line >> notes/summary.md && wc -l < notes/summary.md'] });
      if (results === 2) return callTool('read_file', { path: 'notes/summary.md' });
      // The key must never reach what the run keeps, even when the model repeats it.
      return completion({ content: `Done: the file has two lines. (key ${key})` });
    });
    const { api, composition } = await start('tokens', {
      config: {
        runtimes: {
          'openai-compatible': {
            baseUrl: endpoint.baseUrl,
            model: 'scripted-model',
            apiKeySecret: 'MODEL_API_KEY',
            maxTurns: 6,
            requestTimeout: '30s',
            maxRetries: 0,
          },
        },
      },
    });
    await composition.engine.setSecret('MODEL_API_KEY', key, { kind: 'user', id: 'admin', via: 'cli' });

    const { status, answer } = await submit(api, {
      version: 1,
      name: 'agent',
      items: [
        { id: 'write', secrets: ['MODEL_API_KEY'], runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'Write notes/summary.md with two lines.' } },
      ],
    });
    expect(status, JSON.stringify(answer)).toBe(201);
    const run = await composition.engine.waitForRun(answer.runId!);
    const [item] = composition.engine.items(answer.runId!);
    expect([run.state, item?.state]).toEqual(['succeeded', 'succeeded']);

    // Four requests: three tool calls, then the answer; each with the configured model and the secret's value.
    expect(endpoint.requests.map((request) => request.body.model)).toEqual(['scripted-model', 'scripted-model', 'scripted-model', 'scripted-model']);
    expect(endpoint.requests.map((request) => request.headers.authorization)).toEqual(Array(4).fill(`Bearer ${key}`));
    // The sandboxed `exec` saw the file write_file made, and its output went back to the model.
    expect(endpoint.requests[2]!.body.messages.at(-1)?.content).toContain('2');
    expect(endpoint.requests[3]!.body.messages.at(-1)?.content).toContain('first line\nsecond line');

    const artifacts = composition.engine.artifacts(answer.runId!, 'write');
    const patch = await blobText(composition, artifacts?.['patch']);
    expect(patch).toContain('notes/summary.md');
    expect(patch).toContain('+first line\n+second line');
    const stdout = await blobText(composition, artifacts?.['stdout']);
    expect(stdout).toContain('Done: the file has two lines.');
    expect(stdout).toContain('[redacted:MODEL_API_KEY]');
    expect(stdout).not.toContain(key);
    // The audit log records the secret's name, never its value.
    const entries = JSON.stringify([...composition.engine.audit.runEntries(answer.runId!)]);
    expect(entries).toContain('MODEL_API_KEY');
    expect(entries).not.toContain(key);
  },
);

test(
  'claude-code from cairn.config: the configured command runs in the sandbox with the configured model and turns, its stream-JSON kept as stdout',
  { timeout: 90_000 },
  async () => {
    const claude = standInClaude();
    const key = 'sk-ant-scripted-77d0';
    const { api, composition } = await start('tokens', {
      config: { runtimes: { 'claude-code': { command: claude, model: 'claude-test', maxTurns: 7, apiKeySecret: 'TEAM_ANTHROPIC_KEY' } } },
    });
    await composition.engine.setSecret('TEAM_ANTHROPIC_KEY', key, { kind: 'user', id: 'admin', via: 'cli' });

    const { status, answer } = await submit(api, {
      version: 1,
      name: 'claude',
      items: [
        {
          id: 'tidy',
          secrets: ['TEAM_ANTHROPIC_KEY'],
          env: { EXPECTED_KEY: key },
          runtime: { kind: 'agent', adapter: 'claude-code', prompt: '-Tidy the README' },
        },
      ],
    });
    expect(status, JSON.stringify(answer)).toBe(201);
    const run = await composition.engine.waitForRun(answer.runId!);
    expect(run.state).toBe('succeeded');

    const artifacts = composition.engine.artifacts(answer.runId!, 'tidy');
    const patch = await blobText(composition, artifacts?.['patch']);
    expect(patch).toContain('+# Changes');
    expect(patch).toContain('+key: from the secret store');
    expect(addedLines(patch, 'claude-arguments.txt')).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'acceptEdits',
      '--model',
      'claude-test',
      '--max-turns',
      '7',
      '--',
      '-Tidy the README',
    ]);
    const stdout = await blobText(composition, artifacts?.['stdout']);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { type: string }).type),
    ).toEqual(['system', 'assistant', 'user', 'result']);
  },
);

test('a runtime that cannot run says which cairn.config option to set, not a worker setting the server does not have', { timeout: 60_000 }, async () => {
  const endpoint = await scriptedEndpoint(() => completion({ content: 'never asked' }));
  const { api, composition } = await start('tokens', {
    config: { runtimes: { 'openai-compatible': { baseUrl: endpoint.baseUrl }, 'claude-code': { command: '/nonexistent/claude' } } },
  });
  const { status, answer } = await submit(api, {
    version: 1,
    name: 'unready',
    items: [
      { id: 'no-model', runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' } },
      { id: 'no-cli', runtime: { kind: 'agent', adapter: 'claude-code', prompt: 'x' } },
    ],
  });
  expect(status, JSON.stringify(answer)).toBe(201);
  expect((await composition.engine.waitForRun(answer.runId!)).state).toBe('failed');
  const { keys } = await composition.storage.list({ prefix: `results/${answer.runId}/` });
  const failures = await Promise.all(
    keys.map(
      async (key) =>
        (JSON.parse(Buffer.from((await composition.storage.get(key))!).toString('utf8')) as { itemId: string; failure?: { message: string } }).failure
          ?.message ?? '',
    ),
  );
  expect(failures.find((message) => message.includes('no model to ask'))).toContain('runtimes.openai-compatible.model');
  const cli = failures.find((message) => message.includes('Claude Code CLI'));
  expect(cli).toContain('runtimes.claude-code.command');
  expect(cli).not.toContain('worker.');
  expect(endpoint.requests).toEqual([]);
});

test(
  'a spec naming an agent adapter the server has not configured is refused at submit, naming the JSON path and the configured ones',
  { timeout: 60_000 },
  async () => {
    const endpoint = await scriptedEndpoint(() => completion({ content: 'never asked' }));
    const { api, composition } = await start('tokens', {
      config: { runtimes: { 'openai-compatible': { baseUrl: endpoint.baseUrl, model: 'm', apiKeySecret: 'MODEL_API_KEY' } } },
    });
    await composition.engine.setSecret('MODEL_API_KEY', 'sk-unused', { kind: 'user', id: 'admin', via: 'cli' });
    const command = (id: string) => ({ id, runtime: { kind: 'command', argv: ['/bin/true'] } });

    const unconfigured = await submit(api, {
      version: 1,
      name: 'unconfigured',
      items: [command('a'), command('b'), { id: 'review', runtime: { kind: 'agent', adapter: 'claude-code', prompt: 'Review' } }],
    });
    expect(unconfigured.status).toBe(400);
    expect(unconfigured.answer).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[2].runtime.adapter' });
    expect(unconfigured.answer.message).toBe(
      'the request body has 1 problem; the first: $.items[2].runtime.adapter names no agent adapter this server knows: "claude-code". Known: openai-compatible.',
    );
    const typo = await submit(api, {
      version: 1,
      name: 'typo',
      items: [{ id: 'a', secrets: ['MODEL_API_KEY'], runtime: { kind: 'agent', adapter: 'openai-compatable', prompt: 'x' } }],
    });
    expect([typo.status, typo.answer.path]).toEqual([400, '$.items[0].runtime.adapter']);
    expect(typo.answer.message).toContain('openai-compatible');

    // The configured runtime's API key is a secret the item must name (and its submitter must hold).
    const keyless = await submit(api, {
      version: 1,
      name: 'keyless',
      items: [{ id: 'ask', runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' } }],
    });
    expect(keyless.status).toBe(400);
    expect(keyless.answer).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].secrets' });
    expect(keyless.answer.message).toContain('MODEL_API_KEY');
    expect(endpoint.requests).toEqual([]);
    expect((await (await api('/v1/runs')).json()) as { runs: unknown[] }).toMatchObject({ runs: [] });

    // With no runtimes configured, every agent adapter is refused, and the message says so.
    const { api: bare } = await start();
    const none = await submit(bare, {
      version: 1,
      name: 'none',
      items: [{ id: 'ask', runtime: { kind: 'agent', adapter: 'openai-compatible', prompt: 'x' } }],
    });
    expect([none.status, none.answer.path]).toEqual([400, '$.items[0].runtime.adapter']);
    expect(none.answer.message).toContain('Known: none');
  },
);

test('cairn doctor lists each configured runtime with what it checked and what it did not', { timeout: 60_000 }, async () => {
  const claude = standInClaude();
  const directory = mkdtempSync(join(tmpdir(), 'cairn-doctor-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  chmodSync(directory, 0o711);
  const { configFile } = await initServer(directory);
  // The real Codex CLI's native binary (from npm): it runs only through the gateway, which is off here.
  const [codex] = codexCommand();
  const runtimes = {
    'openai-compatible': { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKeySecret: 'MODEL_API_KEY' },
    'claude-code': { command: claude },
    codex: { command: codex },
  };
  writeFileSync(configFile, `${readFileSync(configFile, 'utf8')}runtimes: ${JSON.stringify(runtimes)}\n`);
  const load = () => loadServerConfig({ directory, env: process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' } });
  const runtimeFindings = async () => (await diagnoseServer(load())).filter((finding) => finding.check.startsWith('runtime '));

  const [openAi, claudeCode, codexFinding] = await runtimeFindings();
  expect(codexFinding).toMatchObject({ check: 'runtime codex', ok: false, fix: expect.stringContaining('gateway.providers.openai') });
  expect(codexFinding!.detail).toMatch(/codex: codex-cli \d+\.\d+\.\d+; no model gateway to the OpenAI API/);
  expect(openAi).toMatchObject({ check: 'runtime openai-compatible', ok: false, fix: expect.stringContaining('cairn secret set MODEL_API_KEY') });
  expect(openAi!.detail).toContain('http://127.0.0.1:9/v1');
  expect(openAi!.detail).toContain('secret MODEL_API_KEY is not set');
  expect(openAi!.detail).toContain('did not call the model');
  expect(claudeCode).toMatchObject({ check: 'runtime claude-code', ok: true });
  expect(claudeCode!.detail).toContain(claude);
  expect(claudeCode!.detail).toContain('2.0.14 (Claude Code)');
  expect(claudeCode!.detail).toContain('did not call the model');

  // Once the secret is set, the endpoint's runtime passes what doctor can check.
  const composition = await composeServer(load());
  await composition.engine.setSecret('MODEL_API_KEY', 'sk-doctor', { kind: 'user', id: 'admin', via: 'cli' });
  await composition.close();
  const [withKey] = await runtimeFindings();
  expect(withKey).toMatchObject({ check: 'runtime openai-compatible', ok: true });
  expect(withKey!.detail).toContain('secret MODEL_API_KEY is set');

  // Sandboxes start as their own uids: a CLI folder they cannot pass through cannot be bound into them.
  if (process.getuid?.() === 0) {
    chmodSync(join(claude, '..'), 0o700);
    const [, closed] = await runtimeFindings();
    expect(closed).toMatchObject({ check: 'runtime claude-code', ok: false, fix: expect.stringContaining(`chmod o+rx ${join(claude, '..')}`) });
    chmodSync(join(claude, '..'), 0o755);
  }

  // A command that is not there fails, saying where it looked and how to install it.
  rmSync(claude);
  const [, missing] = await runtimeFindings();
  expect(missing).toMatchObject({ check: 'runtime claude-code', ok: false, fix: expect.stringContaining('@anthropic-ai/claude-code') });
  expect(missing!.detail).toContain(claude);

  // As the operator sees it: `cairn doctor` prints each runtime and exits 1 while one fails.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: '', ...(process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' }) };
  const printed = spawnSync(process.execPath, ['--conditions=@cairn/source', join(import.meta.dirname, '..', 'cli', 'cli.ts'), 'doctor'], {
    cwd: directory,
    encoding: 'utf8',
    env,
  });
  expect(printed.status, printed.stderr).toBe(1);
  expect(printed.stdout).toMatch(
    /^ok {4}runtime openai-compatible http:\/\/127\.0\.0\.1:9\/v1 \(model m\); secret MODEL_API_KEY is set; did not call the model/m,
  );
  expect(printed.stdout).toMatch(/^FAIL {2}runtime claude-code .*did not call the model.*\n {6}fix: npm install -g @anthropic-ai\/claude-code/m);
});
