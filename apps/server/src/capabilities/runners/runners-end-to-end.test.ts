// Runners end to end (ADR 0050): a real server with `runners.enabled`, and `cairn runner` daemons
// dialing out to it with `runners:run` tokens, running leased attempts in bubblewrap sandboxes with
// their storage through the server. Items choose runners by label; a run's patches, logs and
// evidence come back as from the local executor.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { removeWithMounts } from '@cairn/local';
import { createRunner, type Runner } from '@cairn/runner';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { httpApiSettingsOf } from '../../http/http-api-settings.ts';
import { buildHttpApi } from '../../http/http-server.ts';
import { linkNamespace, type NamespaceLink } from '../../../../../packages/worker/src/testing/stand-in-internet/namespace-link.test-support.ts';
import { runningServers } from '../../http/running-server.test-support.ts';

const execFileAsync = promisify(execFile);

const start = runningServers();
const runners: Runner[] = [];
/** How long the cut-off host's link stays down: the network cut, far longer than the 5-s lease. */
const linkDownMs = 60_000;
afterEach(async () => {
  for (const runner of runners.splice(0)) await runner.stop();
});

/** A runner daemon in this process (its own work root, state and sandbox uids), dialing `base` with a new runners:run token. */
async function startRunner(server: Awaited<ReturnType<typeof start>>, name: string, labels: string[], uids: number): Promise<Runner> {
  const token = (await server.composition.tokens.create(name, ['runners:run'])).token;
  const folder = mkdtempSync(join(tmpdir(), `cairn-runner-${name}-`));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(folder, 0o711);
  const runner = createRunner({
    server: server.base,
    token,
    labels,
    slots: 2,
    trustedKeys: [server.composition.signingKey],
    workRoot: join(folder, 'work'),
    stateDirectory: join(folder, 'state'),
    uids: { first: uids, count: 16 },
    pollWaitMs: 2_000,
    reconnect: { firstMs: 100, maxMs: 1_000 },
  });
  runners.push(runner);
  await runner.start();
  return runner;
}

test(
  "items on the runners executor run on the runners whose labels fit, their patches, logs and secrets as on the server's own host",
  { timeout: 120_000 },
  async () => {
    const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 10 } } });
    await server.composition.engine.setSecret('API_KEY', 'runner-secret-value', { kind: 'user', id: 'admin', via: 'cli' });
    await startRunner(server, 'cpu-1', ['linux'], 320_000);
    await startRunner(server, 'gpu-1', ['linux', 'gpu'], 320_100);
    const submitted = await server.api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 1,
        name: 'on-runners',
        defaults: { executor: 'runners' },
        items: [
          {
            id: 'train',
            runsOn: { labels: ['gpu'] },
            secrets: ['API_KEY'],
            runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'test "$API_KEY" = runner-secret-value && echo trained > model.txt && echo "uid $(id -u)"'] },
          },
          { id: 'lint', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo linted > lint.txt'] } },
        ],
      }),
    });
    expect(submitted.status, await submitted.clone().text()).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const run = await server.composition.engine.waitForRun(runId);
    const items = server.composition.engine.items(runId);
    expect(
      run.state,
      JSON.stringify(items.map((item) => [item.itemId, item.state, server.composition.engine.attempts(runId, item.itemId).at(-1)?.failure])),
    ).toBe('succeeded');
    const patch = async (itemId: string) => (await server.api(`/v1/runs/${runId}/items/${itemId}/patch`)).text();
    expect(await patch('train')).toContain('+trained');
    expect(await patch('lint')).toContain('+linted');
    // The gpu item ran on the gpu runner, in one of its sandbox uids.
    const entries = [...server.composition.engine.audit.runEntries(runId)];
    const completed = entries.find((entry) => entry.action === 'attempt.completed' && entry.data['itemId'] === 'train')!;
    const stdout = await (await server.api(`/v1/blobs/${(completed.data['artifacts'] as Record<string, string>)['stdout']}`)).text();
    expect(Number(/uid (\d+)/.exec(stdout)?.[1])).toBeGreaterThanOrEqual(320_100);
    expect(stdout).not.toContain('runner-secret-value');
    // Its evidence verifies as any run's.
    const bundle = await server.api(`/v1/runs/${runId}/bundle`);
    expect(bundle.status).toBe(200);
  },
);

/** A `cairn runner` process in a network namespace of its own (another host), reaching the server only over its link. */
interface RunnerHost {
  readonly pid: number;
  readonly link: NamespaceLink;
  readonly workRoot: string;
  readonly output: () => string;
  kill(): void;
  exited: Promise<number | null>;
}

const hosts: RunnerHost[] = [];
afterEach(async () => {
  for (const host of hosts.splice(0)) {
    host.kill();
    await host.exited;
    await host.link.remove();
  }
});

/** Starts `cairn runner` as `name` under `unshare --net`, links its namespace, and lets it start once its link is up. */
async function startRunnerHost(server: Awaited<ReturnType<typeof start>>, name: string, labels: string[], uids: number, folder?: string): Promise<RunnerHost> {
  const token = (await server.composition.tokens.create(name, ['runners:run'])).token;
  const root = folder ?? mkdtempSync(join(tmpdir(), `cairn-runner-host-${name}-`));
  chmodSync(root, 0o711);
  const keyFile = join(root, 'server-key.json');
  writeFileSync(keyFile, JSON.stringify(server.composition.signingKey));
  const port = new URL(server.base).port;
  const cli = fileURLToPath(new URL('../../cli/cli.ts', import.meta.url));
  // The runner waits for a line on its stdin: the link is up then, and the server reachable.
  const child = spawn(
    'unshare',
    [
      '--net',
      '--',
      '/bin/sh',
      '-c',
      'read -r server; exec "$@" --server "$server"',
      'runner-host',
      process.execPath,
      '--conditions=@cairn/source',
      cli,
      'runner',
      '--labels',
      labels.join(','),
      '--slots',
      '2',
      '--work-root',
      join(root, 'work'),
      '--state-directory',
      join(root, 'state'),
      '--trusted-key-file',
      keyFile,
      '--drain-grace',
      '1',
      '--sandbox-uids',
      String(uids),
    ],
    { env: { ...process.env, CAIRN_RUNNER_TOKEN: token }, stdio: ['pipe', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const link = await linkNamespace(child.pid!);
  child.stdin!.write(`http://${link.hostAddress}:${port}\n`);
  const host: RunnerHost = {
    pid: child.pid!,
    link,
    workRoot: join(root, 'work'),
    output: () => output,
    kill: () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone already.
      }
    },
    exited,
  };
  hosts.push(host);
  return host;
}

async function until<T>(what: string, look: () => T | undefined | false, limitMs = 30_000): Promise<T> {
  for (const started = Date.now(); Date.now() - started < limitMs; await sleep(50)) {
    const seen = look();
    if (seen !== undefined && seen !== false) return seen;
  }
  throw new Error(`waited ${limitMs} ms for ${what}`);
}

test(
  'runners on other hosts: one killed with SIGKILL mid-attempt and one cut off from the network lose their attempts, which run again; late results are refused and audited',
  { timeout: 300_000 },
  async () => {
    const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 5 } }, host: '0.0.0.0' });
    const runners = server.composition.runners!;
    const killed = await startRunnerHost(server, 'host-a', ['slow'], 330_000);
    const submit = async (id: string, label: string, seconds: number) => {
      const response = await server.api('/v1/runs', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          version: 1,
          name: id,
          items: [
            {
              id,
              executor: 'runners',
              runsOn: { labels: [label] },
              runtime: { kind: 'command', argv: ['/bin/sh', '-c', `sleep ${seconds}; echo ${id} > ${id}.txt`] },
            },
          ],
        }),
      });
      expect(response.status, await response.clone().text()).toBe(201);
      return ((await response.json()) as { runId: string }).runId;
    };
    const holder = (runId: string, itemId: string, attempt: number) =>
      runners.runners().find((runner) => runners.holds(runner.name, `${runId}/${itemId}/${attempt}`))?.name;

    // Host A takes the attempt, and dies with it.
    const first = await submit('killed', 'slow', 4);
    await until('host A to hold the attempt', () => holder(first, 'killed', 1), 60_000);
    killed.kill();
    await killed.exited;
    // A second host takes it up once the lease has lapsed: the first attempt is lost, not failed.
    await startRunnerHost(server, 'host-b', ['slow'], 330_100);
    expect((await server.composition.engine.waitForRun(first)).state).toBe('succeeded');
    expectLostThenSucceeded(server.composition.engine.attempts(first, 'killed'));
    expect(await (await server.api(`/v1/runs/${first}/items/killed/patch`)).text()).toContain('+killed');
    // Restarted on the same work root, host A leaves nothing of the dead runner behind.
    const restarted = await startRunnerHost(server, 'host-a2', ['elsewhere'], 330_000, dirname(killed.workRoot));
    await until('the restarted runner to poll', () => runners.runners().some((runner) => runner.name.includes(':') && runner.labels.includes('elsewhere')));
    expect(readdirSync(restarted.workRoot).filter((name) => name.includes(String(killed.pid)))).toEqual([]);

    // Host C holds an attempt when its link goes down for 60 s, far longer than the lease.
    const cut = await startRunnerHost(server, 'host-c', ['cut'], 330_200);
    const second = await submit('cut-off', 'cut', 3);
    await until('host C to hold the attempt', () => holder(second, 'cut-off', 1), 60_000);
    await execFileAsync('ip', ['link', 'set', cut.link.link, 'down']);
    const cutAt = Date.now();
    await until('the attempt to be recorded lost', () => server.composition.engine.attempts(second, 'cut-off')[0]?.state === 'lost', 30_000);
    await sleep(Math.max(0, linkDownMs - (Date.now() - cutAt)));
    await execFileAsync('ip', ['link', 'set', cut.link.link, 'up']);
    // Back on the network, the same host runs it again; its first attempt's result is refused and audited.
    expect((await server.composition.engine.waitForRun(second)).state).toBe('succeeded');
    expectLostThenSucceeded(server.composition.engine.attempts(second, 'cut-off'));
    const denials = await until(
      'the late result to be audited',
      () => {
        const found = [...server.composition.engine.audit.entries()].filter(
          (entry) => entry.action === 'access.denied' && String(entry.data['reason'] ?? '').startsWith(`late result of ${second}/cut-off/1`),
        );
        return found.length > 0 ? found : undefined;
      },
      60_000,
    );
    // Its result record's write, or its exit, whichever reached the server first.
    expect(denials[0]!.data['reason'], String(denials[0]!.data['reason'])).toMatch(/lease (of \S+ )?lapsed/);
    expect(cut.output()).not.toContain('runner-secret-value');
  },
);

test(
  'the server restarts while a runner holds an attempt: the runner re-adopts it, and its exit and result are taken by the new server',
  { timeout: 120_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-runner-restart-'));
    chmodSync(directory, 0o711);
    const { configFile } = await initServer(directory);
    writeFileSync(configFile, stringifyYaml({ ...(parseYaml(readFileSync(configFile, 'utf8')) as object), runners: { enabled: true, leaseSeconds: 10 } }));
    const serve = async (port = 0) => {
      const loaded = loadServerConfig({ directory, env: {} });
      const composition = await composeServer(loaded);
      const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
      composition.start();
      const base = await app.listen({ host: '127.0.0.1', port });
      return { composition, base, close: async () => (await app.close(), await composition.close()) };
    };
    let server = await serve();
    try {
      const token = (await server.composition.tokens.create('steady', ['runners:run'])).token;
      const operator = (await server.composition.tokens.create('operator', ['admin'])).token;
      const folder = mkdtempSync(join(tmpdir(), 'cairn-runner-steady-'));
      chmodSync(folder, 0o711);
      const runner = createRunner({
        server: server.base,
        token,
        labels: [],
        trustedKeys: [server.composition.signingKey],
        workRoot: join(folder, 'work'),
        stateDirectory: join(folder, 'state'),
        uids: { first: 330_300, count: 16 },
        pollWaitMs: 1_000,
        reconnect: { firstMs: 100, maxMs: 500 },
      });
      runners.push(runner);
      await runner.start();
      const response = await fetch(`${server.base}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          version: 1,
          name: 'steady',
          items: [{ id: 'steady', executor: 'runners', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 3; echo steady > steady.txt'] } }],
        }),
      });
      const { runId } = (await response.json()) as { runId: string };
      await until('the runner to hold the attempt', () => runner.held().includes(`${runId}/steady/1`), 30_000);
      const port = Number(new URL(server.base).port);
      await server.close();
      // The server is gone for a moment; the attempt runs on in its sandbox.
      await sleep(500);
      server = await serve(port);
      expect((await server.composition.engine.waitForRun(runId)).state).toBe('succeeded');
      // Not lost, not run twice: one attempt, and its result the new server read.
      expect(server.composition.engine.attempts(runId, 'steady').map((attempt) => attempt.state)).toEqual(['succeeded']);
      const patch = await fetch(`${server.base}/v1/runs/${runId}/items/steady/patch`, { headers: { authorization: `Bearer ${operator}` } });
      expect(await patch.text()).toContain('+steady');
    } finally {
      await server.close();
      removeWithMounts(directory);
    }
  },
);

test('a 200-item run spreads over three runner hosts as its labels ask', { timeout: 300_000 }, async () => {
  const server = await start('tokens', { config: { runners: { enabled: true, leaseSeconds: 20 } }, host: '0.0.0.0' });
  // Each host's sandboxes take uids of their own: an item's `id -u` says where it ran.
  const ranges = { a: 340_000, b: 341_000, ab: 342_000 } as const;
  await Promise.all([
    startRunnerHost(server, 'pool-a', ['pool=a'], ranges.a),
    startRunnerHost(server, 'pool-b', ['pool=b'], ranges.b),
    startRunnerHost(server, 'pool-ab', ['pool=a', 'pool=b'], ranges.ab),
  ]);
  const items = Array.from({ length: 200 }, (_, index) => ({
    id: `item-${index}`,
    runsOn: { labels: [index % 2 === 0 ? 'pool=a' : 'pool=b'] },
    runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'id -u'] },
  }));
  const response = await server.api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'spread', defaults: { executor: 'runners' }, items }),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  const { runId } = (await response.json()) as { runId: string };
  expect((await server.composition.engine.waitForRun(runId)).state).toBe('succeeded');
  const hostOf = (uid: number) => (uid >= ranges.ab ? 'ab' : uid >= ranges.b ? 'b' : 'a');
  const ranOn: Record<string, Set<string>> = { 'pool=a': new Set(), 'pool=b': new Set() };
  const entries = [...server.composition.engine.audit.runEntries(runId)].filter((entry) => entry.action === 'attempt.completed');
  expect(entries).toHaveLength(200);
  for (const entry of entries) {
    const stdout = await (await server.api(`/v1/blobs/${(entry.data['artifacts'] as Record<string, string>)['stdout']}`)).text();
    const index = Number(String(entry.data['itemId']).slice('item-'.length));
    ranOn[index % 2 === 0 ? 'pool=a' : 'pool=b']!.add(hostOf(Number(stdout.trim())));
  }
  // pool=a items on A or AB, pool=b items on B or AB, and every host took some.
  expect([...ranOn['pool=a']!].every((host) => host === 'a' || host === 'ab')).toBe(true);
  expect([...ranOn['pool=b']!].every((host) => host === 'b' || host === 'ab')).toBe(true);
  expect(new Set([...ranOn['pool=a']!, ...ranOn['pool=b']!])).toEqual(new Set(['a', 'b', 'ab']));
  // One attempt each: nothing lost, nothing run twice.
  expect(server.composition.engine.items(runId).every((item) => server.composition.engine.attempts(runId, item.itemId).length === 1)).toBe(true);
});

/**
 * The lost attempt, then the one that succeeded — with, on a machine too loaded for a runner to
 * heartbeat within the 5-s lease, more lost attempts between them (each lapse is a loss, as it
 * should be). Never a second success: a late result is refused, so nothing counts twice.
 */
function expectLostThenSucceeded(attempts: readonly { readonly state: string }[]): void {
  const states = attempts.map((attempt) => attempt.state);
  expect(states.length, states.join(', ')).toBeGreaterThanOrEqual(2);
  expect(
    states.slice(0, -1).every((state) => state === 'lost'),
    states.join(', '),
  ).toBe(true);
  expect(states.at(-1)).toBe('succeeded');
}
