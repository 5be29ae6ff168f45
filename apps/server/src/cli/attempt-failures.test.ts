// "Why did it fail?": a run that fails for each reason (a non-zero exit, a timeout, a refused
// patch, a storage failure, a secret refusal) says why in `cairn status`, in the client's item
// records and in the MCP tools' output — through a real server, real sandboxes and real storage.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createCairnClient, type CairnClient, type ItemView, type RunView } from '@cairn/client';
import { buildMcpServer } from '@cairn/mcp';
import { blobKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/worker';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

// One server for the file: each test submits its own run (its own item ids, secret names and
// workspace) and reads only that run back, on every surface.
const start = runningServers('file');
let shared: ReturnType<typeof start> | undefined;
const server = () => (shared ??= start());

const cairn = (args: string[], env: Record<string, string>) => runCli(args, { env });

/** Submits a spec through the client, waits for the run, and reads it back on every surface. */
async function failedRun(
  setup: { base: string; operatorToken: string },
  spec: object,
): Promise<{
  runId: string;
  status: string;
  items: ItemView[];
  run: RunView;
  mcp: { status: string; waited: string };
  logs: (itemId: string) => Promise<{ status: number | null; stdout: string; stderr: string }>;
}> {
  const client = createCairnClient({ baseUrl: setup.base, token: setup.operatorToken });
  const { runId } = await client.submit(spec as Parameters<CairnClient['submit']>[0]);
  const run = await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) });
  // A run still going after a minute says where it stands: each item's attempts, as the server has them.
  const stuck =
    run.state === 'failed'
      ? []
      : await Promise.all((await client.items(runId)).map(async (item) => ({ ...item, attempts: await client.attempts(runId, item.itemId) })));
  expect(run.state, JSON.stringify(stuck, null, 2)).toBe('failed');
  return { runId, ...(await surfaces(setup, client, runId)) };
}

async function surfaces(setup: { base: string; operatorToken: string }, client: CairnClient, runId: string) {
  const status = await cairn(['status', runId, '--server', setup.base], { CAIRN_TOKEN: setup.operatorToken });
  expect(status.status, status.stderr).toBe(0);
  const logs = (itemId: string) => cairn(['logs', runId, itemId, '--server', setup.base], { CAIRN_TOKEN: setup.operatorToken });
  const [items, run] = await Promise.all([client.items(runId), client.run(runId)]);
  const server = buildMcpServer(client);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const mcp = new Client({ name: 'test', version: '1.0.0' });
  await mcp.connect(clientTransport);
  try {
    const textOf = async (name: string, args: Record<string, unknown>) =>
      ((await mcp.callTool({ name, arguments: args })).content as { text: string }[])[0]!.text;
    return {
      status: status.stdout,
      items,
      run,
      logs,
      mcp: { status: await textOf('get_run_status', { runId }), waited: await textOf('wait_for_run', { runId, timeoutSeconds: 10 }) },
    };
  } finally {
    await mcp.close();
  }
}

const item = (items: readonly ItemView[], itemId: string) => items.find((candidate) => candidate.itemId === itemId)!;

test('a non-zero exit: the code, the exit code and the end of stderr', { timeout: 90_000 }, async () => {
  const setup = await server();
  const { status, items, run, mcp, logs } = await failedRun(setup, {
    version: 1,
    name: 'exits',
    items: [{ id: 'build', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo compiling >&2; echo "src/main.c:3: error: expected ;" >&2; exit 3'] } }],
  });
  expect(status).toMatch(/build failed: CAIRN_EXIT_NONZERO .*exited with code 3.*\(exit 3\)/);
  expect(status).toContain('src/main.c:3: error: expected ;');
  expect(item(items, 'build')).toMatchObject({
    state: 'failed',
    failure: { code: 'CAIRN_EXIT_NONZERO', exitCode: 3, signal: null, stderrTail: 'compiling\nsrc/main.c:3: error: expected ;\n' },
  });
  expect(run.failedItems).toEqual([{ itemId: 'build', failure: item(items, 'build').failure }]);
  expect(JSON.parse(mcp.status)).toMatchObject({
    state: 'failed',
    items: [{ itemId: 'build', state: 'failed', failure: { code: 'CAIRN_EXIT_NONZERO', exitCode: 3, stderrTail: expect.stringContaining('expected ;') } }],
  });
  expect(JSON.parse(mcp.waited)).toMatchObject({ state: 'failed', failedItems: [{ itemId: 'build', failure: { code: 'CAIRN_EXIT_NONZERO', exitCode: 3 } }] });
  const logged = await logs('build');
  expect(logged.status).toBe(1);
  expect(logged.stderr).toContain('src/main.c:3: error: expected ;');
  expect(logged.stderr).toMatch(/\[cairn\] attempt 1 failed \(exit code 3\): CAIRN_EXIT_NONZERO /);
});

test('a timeout: the attempt is stopped and says it ran past its timeout', { timeout: 90_000 }, async () => {
  const setup = await server();
  const { status, items, mcp, logs } = await failedRun(setup, {
    version: 1,
    name: 'slow',
    items: [{ id: 'sleepy', timeout: '1s', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo waiting >&2; sleep 30'] } }],
  });
  expect(status).toMatch(/sleepy failed: CAIRN_ATTEMPT_TIMED_OUT .*timeout/);
  expect(item(items, 'sleepy')).toMatchObject({ state: 'failed', failure: { code: 'CAIRN_ATTEMPT_TIMED_OUT', message: expect.stringContaining('1000 ms') } });
  expect(JSON.parse(mcp.status)).toMatchObject({ items: [{ itemId: 'sleepy', failure: { code: 'CAIRN_ATTEMPT_TIMED_OUT' } }] });
  const logged = await logs('sleepy');
  expect(logged.status).toBe(1);
  expect(logged.stderr).toContain('waiting');
  expect(logged.stderr).toMatch(/\[cairn\] attempt 1 timed-out \([^)]*\): CAIRN_ATTEMPT_TIMED_OUT The attempt ran past its timeout/);
});

test(
  'a refused patch: the rule that refused it (an escaping symlink, git metadata below the top, where only the workspace’s own repository may be), with exit code 0',
  { timeout: 90_000 },
  async () => {
    const setup = await server();
    const { status, items, mcp, logs } = await failedRun(setup, {
      version: 1,
      name: 'refused',
      items: [
        { id: 'escape', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'ln -s /etc/passwd passwd-link'] } },
        { id: 'gitdir', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'mkdir -p src && echo "gitdir: /etc" > src/.git'] } },
      ],
    });
    expect(status).toMatch(/escape failed: CAIRN_PAYLOAD_INVALID .*symlink "passwd-link".*\(exit 0; rule symlink-escape\)/);
    expect(status).toMatch(/gitdir failed: CAIRN_PAYLOAD_INVALID .*git metadata.*\(exit 0; rule git-metadata\)/);
    expect(item(items, 'escape')).toMatchObject({
      state: 'failed',
      failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'symlink-escape', exitCode: 0, signal: null },
    });
    expect(item(items, 'gitdir')).toMatchObject({ state: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'git-metadata', exitCode: 0 } });
    expect(JSON.parse(mcp.status)).toMatchObject({
      items: expect.arrayContaining([
        expect.objectContaining({ itemId: 'escape', failure: expect.objectContaining({ rule: 'symlink-escape' }) }),
        expect.objectContaining({ itemId: 'gitdir', failure: expect.objectContaining({ rule: 'git-metadata' }) }),
      ]),
    });
    const logged = await logs('escape');
    expect(logged.status).toBe(1);
    expect(logged.stderr).toMatch(/\[cairn\] attempt 1 failed \(exit code 0\): CAIRN_PAYLOAD_INVALID .*\(rule symlink-escape\)/);
  },
);

test('a storage failure: a workspace snapshot that no longer matches its digest', { timeout: 90_000 }, async () => {
  const setup = await server();
  const workspace = join(setup.directory, 'project');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'notes.txt'), 'hello\n');
  const client = createCairnClient({ baseUrl: setup.base, token: setup.operatorToken });
  const digest = await client.uploadBlob((await snapshotWorkspace(workspace)).bytes);
  // The stored bytes change under their digest on disk (a bad disk, a bad copy): the storage
  // refuses to store such bytes, so they are written behind its back.
  const hex = blobKey(digest).slice('blobs/'.length);
  const stored = readdirSync(setup.directory, { recursive: true, encoding: 'utf8' }).find((path) => basename(path) === hex);
  expect(stored).toBeDefined();
  writeFileSync(join(setup.directory, stored!), 'not the snapshot');
  const { status, items, mcp, logs } = await failedRun(setup, {
    version: 1,
    name: 'bad-storage',
    workspace: { snapshot: digest },
    items: [{ id: 'read', runtime: { kind: 'command', argv: ['/bin/cat', 'notes.txt'] } }],
  });
  expect(status).toMatch(new RegExp(`read failed: CAIRN_DIGEST_MISMATCH .*blobs/${hex}`));
  expect(item(items, 'read')).toMatchObject({ state: 'failed', failure: { code: 'CAIRN_DIGEST_MISMATCH', exitCode: null, signal: null, stderrTail: '' } });
  expect(JSON.parse(mcp.status)).toMatchObject({ items: [{ itemId: 'read', failure: { code: 'CAIRN_DIGEST_MISMATCH' } }] });
  const logged = await logs('read');
  expect(logged.status).toBe(1);
  expect(logged.stderr).toMatch(new RegExp(`\\[cairn\\] attempt 1 failed .*: CAIRN_DIGEST_MISMATCH .*blobs/${hex}`));
});

test('a secret refusal: a change holding a secret value is refused by rule, and the value appears nowhere', { timeout: 90_000 }, async () => {
  const setup = await server();
  const value = 'sk-live-failure-4e1d9a';
  await setup.composition.engine.setSecret('API_KEY', value, { kind: 'user', id: 'admin', via: 'cli' });
  const { runId, status, items, mcp, logs } = await failedRun(setup, {
    version: 1,
    name: 'leaky',
    items: [
      { id: 'leak', secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo "$API_KEY" > key.txt; echo "using $API_KEY" >&2'] } },
    ],
  });
  expect(status).toMatch(/leak failed: CAIRN_PAYLOAD_INVALID .*secret API_KEY.*\(exit 0; rule secret\)/);
  expect(item(items, 'leak')).toMatchObject({
    state: 'failed',
    failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'secret', stderrTail: 'using [redacted:API_KEY]\n' },
  });
  const logged = await logs('leak');
  expect(logged.status).toBe(1);
  expect(logged.stderr).toContain('using [redacted:API_KEY]');
  expect(logged.stderr).toMatch(/\[cairn\] attempt 1 failed \(exit code 0\): CAIRN_PAYLOAD_INVALID .*\(rule secret\)/);
  for (const surface of [status, JSON.stringify(items), mcp.status, mcp.waited, logged.stdout, logged.stderr]) expect(surface).not.toContain(value);
  // The audit entry names the code and rule, small, and the event stream carries them too.
  const completed = setup.composition.engine.audit.runEntries(runId).find((entry) => entry.action === 'attempt.completed')!;
  expect(completed.data['failure']).toEqual({ code: 'CAIRN_PAYLOAD_INVALID', rule: 'secret' });
  const events = [];
  for await (const event of setup.composition.engine.events({ runId, follow: false })) events.push(event);
  expect(events).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ type: 'attempt.state', state: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'secret' } }),
      expect.objectContaining({ type: 'item.state', state: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'secret' } }),
    ]),
  );
});

test('a secret removed after submit: the dispatch is refused with CAIRN_SECRET_UNAVAILABLE naming it', { timeout: 90_000 }, async () => {
  const setup = await server();
  await setup.composition.engine.setSecret('DEPLOY_KEY', 'dk-7f3a', { kind: 'user', id: 'admin', via: 'cli' });
  const client = createCairnClient({ baseUrl: setup.base, token: setup.operatorToken });
  const { runId } = await client.submit({
    version: 1,
    name: 'gated',
    items: [{ id: 'deploy', approval: 'required', secrets: ['DEPLOY_KEY'], runtime: { kind: 'command', argv: ['/bin/true'] } }],
  } as Parameters<CairnClient['submit']>[0]);
  setup.composition.engine.removeSecret('DEPLOY_KEY', { kind: 'user', id: 'admin', via: 'cli' });
  await client.approve(runId, 'deploy');
  expect((await client.waitForRun(runId, { signal: AbortSignal.timeout(60_000) })).state).toBe('failed');
  const { status, items, mcp, logs } = await surfaces(setup, client, runId);
  expect(status).toMatch(/deploy failed: CAIRN_SECRET_UNAVAILABLE .*DEPLOY_KEY/);
  // Never dispatched, so no output: cairn logs says why in its place.
  const logged = await logs('deploy');
  expect(logged.status).toBe(1);
  expect(logged.stderr).toMatch(/\[cairn\] item deploy failed before any attempt ran, so it has no output: CAIRN_SECRET_UNAVAILABLE .*DEPLOY_KEY/);
  expect(item(items, 'deploy')).toMatchObject({ failure: { code: 'CAIRN_SECRET_UNAVAILABLE', exitCode: null, signal: null, stderrTail: '' } });
  expect(JSON.parse(mcp.status)).toMatchObject({ items: [{ itemId: 'deploy', failure: { code: 'CAIRN_SECRET_UNAVAILABLE' } }] });
});
