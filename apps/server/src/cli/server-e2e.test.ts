// The server as a user gets it: the built `dist/cli.js` (rebuild first: `pnpm --filter @cairn/server
// build`), `cairn init` in a fresh directory, `cairn serve` on a random loopback port, work
// submitted over HTTP and with `cairn submit`, followed over SSE, its patch applied with git, its
// evidence verified offline with `cairn verify`; a server killed (SIGKILL) in the middle of a run
// and started again on the same data directory, after which the run ends with every item
// succeeded exactly once (the running task outlives the kill under its supervisor); and the same work through `cairn mcp` over stdio.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CairnEvent } from '@cairn/core';
import { expect, test } from 'vitest';
import { builtCli, useBuiltServer } from './built-server.test-support.ts';
import { sseEvents } from '../http/sse-events.test-support.ts';
import { servedMcpTools } from './mcp-tools.test-support.ts';

const { cairn, initialised, serve, childEnv } = useBuiltServer();

function killed(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

/** Server-sent events of `path` until `enough` says so (or the server goes away). */
async function events(base: string, token: string, path: string, enough: (seen: CairnEvent[]) => boolean, signal?: AbortSignal): Promise<CairnEvent[]> {
  const controller = new AbortController();
  signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const seen: CairnEvent[] = [];
  try {
    for await (const { event } of sseEvents(response.body!)) {
      seen.push(event);
      if (enough(seen)) break;
    }
  } catch (error) {
    // A server killed under the stream ends it; what was read so far is the answer.
    if (!signal?.aborted && (error as Error).name !== 'TypeError') throw error;
  } finally {
    controller.abort();
  }
  return seen;
}

const ended = (seen: CairnEvent[]) => seen.some((event) => event.type === 'run.state' && ['succeeded', 'failed', 'cancelled'].includes(event.state));

async function downloadAndVerify(directory: string, base: string, token: string, runId: string, keyId: string): Promise<void> {
  const bundle = await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${token}` } });
  expect(bundle.status).toBe(200);
  const file = join(directory, `${runId}.bundle.json`);
  writeFileSync(file, new Uint8Array(await bundle.arrayBuffer()));
  const verified = await cairn(directory, ['--json', 'verify', file, '--trusted-key', keyId]);
  expect([verified.status, verified.stderr]).toEqual([0, '']);
  expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true });
}

test(
  'built cairn: init, serve on port 0, submit over HTTP and CLI, SSE, patch, verified bundle; SIGKILL mid-run and restart: the run ends, every item succeeded once',
  { timeout: 60_000 },
  async () => {
    const { directory, keyId, token } = await initialised();
    let { base, server } = await serve(directory);
    const authorization = { authorization: `Bearer ${token}` };

    // Over HTTP, followed over SSE from its first event to its last.
    const submitted = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { ...authorization, 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'over-http',
        items: [{ id: 'write', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo over http > http.txt'] } }],
      }),
    });
    expect(submitted.status).toBe(201);
    const { runId: httpRun } = (await submitted.json()) as { runId: string };
    const followed = await events(base, token, `/v1/runs/${httpRun}/events`, ended);
    expect(followed[0]).toMatchObject({ type: 'run.state', state: 'queued', runId: httpRun });
    expect(followed.at(-1)).toMatchObject({ type: 'run.state', state: 'succeeded' });
    expect(followed.filter((event) => event.type === 'item.state').map((event) => event.state)).toEqual(
      expect.arrayContaining(['ready', 'running', 'succeeded']),
    );
    expect(followed.map((event) => event.id)).toEqual([...followed.map((event) => event.id)].sort((a, b) => a - b));

    // With `cairn submit --workspace --wait` over a git repository; its patch applies to that repository.
    const repository = join(directory, 'repository');
    mkdirSync(repository);
    writeFileSync(join(repository, 'notes.txt'), 'first line\n');
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.invalid', ...args], { cwd: repository, encoding: 'utf8' });
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'baseline');
    const spec = join(directory, 'append.yaml');
    writeFileSync(
      spec,
      'version: 1\nname: append\nitems:\n  - { id: append, runtime: { kind: command, argv: [/bin/sh, -c, "echo second line >> notes.txt"] } }\n',
    );
    const cliRun = await cairn(directory, ['--json', 'submit', spec, '--workspace', repository, '--wait', '--server', base], { CAIRN_TOKEN: token });
    expect(cliRun.status, cliRun.stderr).toBe(0);
    const { runId: cliRunId, state } = JSON.parse(cliRun.stdout) as { runId: string; state: string };
    expect(state).toBe('succeeded');
    const patch = await fetch(`${base}/v1/runs/${cliRunId}/items/append/patch`, { headers: authorization });
    expect(patch.status).toBe(200);
    writeFileSync(join(directory, 'append.patch'), await patch.text());
    git('apply', '--check', join(directory, 'append.patch'));
    git('apply', join(directory, 'append.patch'));
    expect(git('diff')).toContain('+second line');
    await downloadAndVerify(directory, base, token, cliRunId, keyId);
    // Bad input over HTTP is the user's to fix: exit 2, naming the field.
    const badSchedule = await cairn(directory, ['schedule', 'add', spec, '--id', 'bad', '--cron', 'not cron', '--server', base], { CAIRN_TOKEN: token });
    expect([badSchedule.status, badSchedule.stderr]).toEqual([2, expect.stringContaining('CAIRN_PAYLOAD_INVALID')]);
    expect(badSchedule.stderr).toContain('schedule.cron');

    // A run whose items take a while; the server is killed while some run, and started again.
    const slow = { retry: { maxAttempts: 3, backoff: { initial: '100ms', jitter: false } } };
    const longRun = {
      version: 1,
      name: 'survives-a-restart',
      items: [
        { id: 'first', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo first > first.txt'] } },
        { id: 'left', dependsOn: ['first'], ...slow, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1; echo left > left.txt'] } },
        { id: 'right', dependsOn: ['first'], ...slow, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1; echo right > right.txt'] } },
        { id: 'last', dependsOn: ['left', 'right'], ...slow, runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1; echo last > last.txt'] } },
      ],
    };
    const long = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { ...authorization, 'content-type': 'application/json', 'idempotency-key': 'survives' },
      body: JSON.stringify(longRun),
    });
    const { runId } = (await long.json()) as { runId: string };
    const before = await events(base, token, `/v1/runs/${runId}/events`, (seen) =>
      seen.some((event) => event.type === 'attempt.state' && event.itemId === 'left' && event.state === 'running'),
    );
    expect(ended(before)).toBe(false);
    await killed(server);

    ({ base, server } = await serve(directory));
    // The same submit again, to the new server: the idempotency key still names the same run.
    const again = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { ...authorization, 'content-type': 'application/json', 'idempotency-key': 'survives' },
      body: JSON.stringify(longRun),
    });
    expect([again.status, ((await again.json()) as { runId: string }).runId]).toEqual([200, runId]);
    const all = await events(base, token, `/v1/runs/${runId}/events`, ended);
    expect(all.at(-1)).toMatchObject({ type: 'run.state', state: 'succeeded' });
    // Every event before the kill is still there, under the same ids, and none came twice.
    expect(all.slice(0, before.length)).toEqual(before);
    expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
    const succeeded = all.filter((event) => event.type === 'item.state' && event.state === 'succeeded').map((event) => (event as { itemId: string }).itemId);
    expect(succeeded.sort()).toEqual(['first', 'last', 'left', 'right']);
    // The kill cut no attempt short: the one running under its own supervisor finished while no
    // server was up, and the new server re-attached to it — none lost, and 'left' ran exactly once.
    expect(all.filter((event) => event.type === 'attempt.state' && event.state === 'lost').map((event) => (event as { itemId: string }).itemId)).toEqual([]);
    expect(
      all
        .filter((event) => event.type === 'attempt.state' && event.itemId === 'left' && event.state === 'succeeded')
        .map((event) => (event as { attempt: number }).attempt),
    ).toEqual([1]);
    const items = (await (await fetch(`${base}/v1/runs/${runId}/items`, { headers: authorization })).json()) as { itemId: string; state: string }[];
    expect(items.map((item) => [item.itemId, item.state])).toEqual([
      ['first', 'succeeded'],
      ['left', 'succeeded'],
      ['right', 'succeeded'],
      ['last', 'succeeded'],
    ]);
    await downloadAndVerify(directory, base, token, runId, keyId);
    await killed(server);
  },
);

test('built cairn mcp over stdio: an AI client submits, waits and reads the patch through a served server', { timeout: 60_000 }, async () => {
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
  const { directory } = await initialised();
  const { base, server } = await serve(directory);
  const created = await cairn(directory, ['--json', 'token', 'create', '--name', 'agent', '--scope', 'runs:submit', 'runs:read']);
  expect(created.status, created.stderr).toBe(0);
  const { token } = JSON.parse(created.stdout) as { token: string };

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [builtCli, 'mcp', '--server', base],
    cwd: directory,
    env: childEnv({ CAIRN_TOKEN: token }),
    stderr: 'pipe',
  });
  const client = new Client({ name: 'e2e-agent', version: '1.0.0' });
  await client.connect(transport);
  try {
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).toEqual(servedMcpTools);
    const submitted = await client.callTool({
      name: 'submit_run',
      arguments: {
        spec: 'version: 1\nname: from-mcp\nitems:\n  - { id: write, runtime: { kind: command, argv: [/bin/sh, -c, "echo made over mcp > mcp.txt"] } }\n',
      },
    });
    const { runId } = JSON.parse((submitted.content as { text: string }[])[0]!.text) as { runId: string };
    const waited = await client.callTool({ name: 'wait_for_run', arguments: { runId, timeoutSeconds: 50 } });
    expect(JSON.parse((waited.content as { text: string }[])[0]!.text)).toMatchObject({ runId, state: 'succeeded' });
    const status = await client.callTool({ name: 'get_run_status', arguments: { runId } });
    expect((status.content as { text: string }[])[0]!.text).toContain('succeeded');
    const patch = await client.callTool({ name: 'get_patch', arguments: { runId, itemId: 'write' } });
    expect((patch.content as { text: string }[])[0]!.text).toContain('+made over mcp');
    // The agent's token reads runs but not their evidence.
    expect((await fetch(`${base}/v1/runs/${runId}/bundle`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403);
  } finally {
    await client.close();
  }
  await killed(server);
});
