// Provider quotas on PostgreSQL (ADR 0033): shared by every run and every replica through the state
// database. A quota of 2 concurrent calls holds across two runs of one server, and across two
// replicas: when the replica serving the gateway is killed with two calls in flight, the replica
// that takes the lease over lets no call through to the provider until the dead one's room lapses
// (one lease, `gateway.quotaLeaseMs`), and then no more than two at once. The calls are the test's
// own, made with credentials of running attempts (minted from the server's key file), so that when
// each one reaches the scripted provider is the test's to decide.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { removeWithMounts } from '@cairn/local';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createPostgresStateStore } from '../../../../../packages/engine/src/store/postgres/postgres-state-store.ts';
import { createTestDatabase, type TestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from '../../cli/init-server.ts';
import { runningServers } from '../../http/running-server.test-support.ts';
import { AttemptCredentials } from './attempt-credentials.ts';
import { writtenModelCalls } from './gateway-server.test-support.ts';
import { startScriptedModels, type ScriptedModels, type ScriptedTurn } from './scripted-models.test-support.ts';

const start = runningServers();
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const model = 'gpt-4o-mini';
const answerMs = 400;
const answer: ScriptedTurn = { firstByteDelayMs: answerMs, text: 'Done.', usage: { inputTokens: 5, outputTokens: 5 } };

async function scriptedModels(turns: readonly ScriptedTurn[]): Promise<ScriptedModels> {
  // Every call is a turn: the test's calls declare no tools.
  const models = await startScriptedModels({ chat: turns, isSideCall: () => false });
  cleanups.push(() => models.close());
  return models;
}

async function testDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  return database;
}

/** A run of one command item that runs long enough for the test's calls: its attempt's execution id is `<runId>/work/1`. */
const sleeper = (name: string) => ({ version: 1, name, items: [{ id: 'work', timeout: '60s', runtime: { kind: 'command', argv: ['sleep', '30'] } }] });

/** One Chat Completions call through the gateway at `url` with `credential`: its status once answered. */
async function call(url: string, credential: string): Promise<number> {
  const response = await fetch(`${url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await response.arrayBuffer();
  return response.status;
}

/** When the scripted provider got each call, in order. */
const arrivals = (models: ScriptedModels) =>
  models
    .turns('chat')
    .map((request) => request.receivedAt)
    .sort((left, right) => left - right);

/**
 * The most calls in flight at once, each from when the provider got it to when it ended (or, for
 * the calls of a dead replica, to when their room lapsed).
 */
function mostAtOnce(calls: readonly { readonly from: number; readonly to: number }[]): number {
  const events = calls.flatMap((one) => [
    { at: one.from, change: 1 },
    { at: one.to, change: -1 },
  ]);
  // An end and a start at the same moment: the end first.
  events.sort((left, right) => left.at - right.at || left.change - right.change);
  let now = 0;
  let most = 0;
  for (const event of events) most = Math.max(most, (now += event.change));
  return most;
}

/** The scripted answers' calls: they end `answerMs` after they came (less a margin for the timers). */
const answered = (times: readonly number[]) => times.map((from) => ({ from, to: from + answerMs - 30 }));

test('on PostgreSQL, a quota of 2 concurrent calls holds across two runs: never more than two calls at the provider, the others wait and their wait is recorded', async () => {
  const database = await testDatabase();
  const models = await scriptedModels(Array.from({ length: 6 }, () => answer));
  const { api, composition, directory } = await start('tokens', {
    config: {
      engine: { state: database.settings },
      gateway: { enabled: true, providers: { openai: { baseUrl: models.baseUrls.openai } }, quotas: { openai: { concurrent: 2 } } },
    },
  });
  const runIds = await Promise.all(
    ['one', 'two'].map(async (name) => {
      const response = await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sleeper(name)) });
      expect(response.status).toBe(201);
      return ((await response.json()) as { runId: string }).runId;
    }),
  );
  const leading = () => {
    try {
      return composition.engine;
    } catch {
      return undefined;
    }
  };
  for (const runId of runIds) while (leading()?.liveAttempt(`${runId}/work/1`) === undefined) await sleep(25);
  const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
  const mint = (runId: string) => credentials.mint({ executionId: `${runId}/work/1`, models: [model], expiresAt: Date.now() + 60_000 });

  // Three calls from each run's attempt at once.
  const statuses = await Promise.all(runIds.flatMap((runId) => [1, 2, 3].map(() => call(composition.gatewayUrl!, mint(runId)))));
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  const times = arrivals(models);
  expect(times).toHaveLength(6);
  expect(mostAtOnce(answered(times))).toBe(2);
  // Each entry is written a flush after its answer (ADR 0059): wait for the three of each run.
  const entries = await Promise.all(runIds.map((runId) => writtenModelCalls(composition, runId, (written) => written.length === 3)));
  const waits = entries.flat().map((entry) => Number(entry.data['quotaWaitMs'] ?? 0));
  expect(waits).toHaveLength(6);
  expect(waits.filter((wait) => wait > 0)).toHaveLength(4);
  // Counted in the database: one row per call, each ended with its tokens.
  // A call's room is given back once its entry is written: poll for the last ones.
  const oracle = await database.client();
  const quotaCalls = async () =>
    (
      await oracle.query<{ quota_key: string; tokens: string; ended: boolean }>(
        'SELECT quota_key, tokens, ended_at IS NOT NULL AS ended FROM cairn.server_quota_calls',
      )
    ).rows;
  let rows = await quotaCalls();
  for (const deadline = Date.now() + 10_000; rows.some((row) => !row.ended) && Date.now() < deadline; rows = await quotaCalls()) await sleep(20);
  expect(rows).toEqual(Array.from({ length: 6 }, () => ({ quota_key: 'openai', tokens: '10', ended: true })));
  for (const runId of runIds) await api(`/v1/runs/${runId}/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  for (const runId of runIds) await composition.engine.waitForRun(runId);
});

/** A free loopback port (for a replica's gateway, which each replica must have its own of). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'cli', 'cli.ts');

/** `cairn --json serve --config <file>` from the sources, in a process of its own; resolves once it listens. */
function serve(directory: string, configFile: string): Promise<{ base: string; server: ChildProcess }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && name !== 'NODE_EXTRA_CA_CERTS') env[name] = value;
  env['CAIRN_PORT'] = '0';
  // Sandboxes need root for their uids; elsewhere tasks run unsandboxed, as in every server test.
  if (process.getuid?.() !== 0) env['CAIRN_SANDBOX'] = 'none';
  const server = spawn(process.execPath, ['--conditions=@cairn/source', cli, '--json', 'serve', '--config', configFile], {
    cwd: directory,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => void server.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    server.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    server.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve({ base: (JSON.parse(line) as { listening: string }).listening, server });
    });
    server.on('exit', (code) => reject(new Error(`cairn serve exited (${code}) before listening: ${stderr}`)));
  });
}

function killed(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.exitCode !== null || server.signalCode !== null) return resolve();
    server.once('exit', () => resolve());
    server.kill('SIGKILL');
  });
}

test(
  'on PostgreSQL, a quota of 2 concurrent calls holds across two replicas: the leader killed with two calls in flight, the next one lets none through until their room lapses, then two at a time',
  { timeout: 60_000 },
  async () => {
    // Long enough that the other replica takes over well before the dead one's room lapses, even on a loaded machine.
    const leaseMs = 6_000;
    const database = await testDatabase();
    // The two calls in flight when their replica dies never get an answer; the next three do.
    const models = await scriptedModels([
      { stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } },
      { stall: 'before-response', text: 'never sent', usage: { inputTokens: 1, outputTokens: 1 } },
      answer,
      answer,
      answer,
    ]);
    const directory = mkdtempSync(join(tmpdir(), 'cairn-quota-replicas-'));
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(directory, 0o711);
    cleanups.push(() => removeWithMounts(directory));
    const { operatorToken, configFile } = await initServer(directory);
    const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
    // Two config files in one folder: one data directory (keys, gateway.key, executions/), a gateway port each.
    const gatewayPorts = [await freePort(), await freePort()];
    const files = gatewayPorts.map((port, index) => {
      const file = join(directory, `replica-${index}.config.yaml`);
      writeFileSync(
        file,
        stringifyYaml({
          ...config,
          engine: { state: database.settings },
          gateway: {
            enabled: true,
            port,
            providers: { openai: { baseUrl: models.baseUrls.openai } },
            quotas: { openai: { concurrent: 2 } },
            quotaLeaseMs: leaseMs,
            maxQuotaWaitMs: 20_000,
          },
        }),
      );
      return file;
    });
    const replicas = await Promise.all(files.map((file) => serve(directory, file)));
    const oracle = await database.client();
    const store = createPostgresStateStore(database.settings);
    const leader = async () => {
      const held = await store.leader(oracle);
      const index = replicas.findIndex((replica) => held.held && replica.server.pid === held.pid);
      return index < 0 ? undefined : index;
    };
    let first: number | undefined;
    while ((first = await leader()) === undefined) await sleep(25);
    const second = 1 - first;
    const api = (replica: number, path: string, init: RequestInit = {}) =>
      fetch(`${replicas[replica]!.base}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) },
      });
    const gatewayOf = (replica: number) => `http://127.0.0.1:${gatewayPorts[replica]!}`;

    // Two runs, each with an attempt running.
    const runIds = await Promise.all(
      ['one', 'two'].map(async (name) => {
        const response = await api(first, '/v1/runs', { method: 'POST', body: JSON.stringify(sleeper(name)) });
        expect(response.status).toBe(201);
        return ((await response.json()) as { runId: string }).runId;
      }),
    );
    // Started under their supervisors (recorded running, not only dispatched): a task whose start a
    // killed replica had not yet recorded may be lost with it, and tried again as another attempt.
    const running = async () => {
      const { rows } = await oracle.query<{ state: string }>('SELECT state FROM cairn.attempts WHERE execution_id = ANY($1)', [
        runIds.map((runId) => `${runId}/work/1`),
      ]);
      return rows.length === 2 && rows.every((row) => row.state === 'running');
    };
    while (!(await running())) await sleep(50);
    const credentials = await AttemptCredentials.fromKeyFile(join(directory, 'cairn-data', 'gateway.key'));
    const mint = (runId: string) => credentials.mint({ executionId: `${runId}/work/1`, models: [model], expiresAt: Date.now() + 60_000 });

    // One call from each run at the leader: both in flight at the provider, which never answers.
    const inFlight = runIds.map((runId) => call(gatewayOf(first), mint(runId)).catch(() => 'cut'));
    while (models.turns('chat').length < 2) await sleep(20);
    await killed(replicas[first]!.server);
    const killedAt = Date.now();
    expect(await Promise.all(inFlight)).toEqual(['cut', 'cut']);
    // Their room lasts one lease after the dead replica's last renewal.
    const lapses = (
      await oracle.query<{ until: Date }>('SELECT lease_until AS until FROM cairn.server_quota_calls WHERE ended_at IS NULL ORDER BY lease_until')
    ).rows.map((row) => row.until.getTime());
    expect(lapses).toHaveLength(2);
    for (const lapse of lapses) expect(lapse - killedAt).toBeLessThanOrEqual(leaseMs);

    // The other replica takes the lease and the attempts over, with the dead one's room still held.
    while ((await leader()) !== second) {
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      await sleep(25);
    }
    // Its engine runs once its gateway tells a credential of no attempt from a live one (401; 503 until it runs).
    while ((await call(gatewayOf(second), credentials.mint({ executionId: 'r-none/none/1', models: [model], expiresAt: Date.now() + 60_000 }))) !== 401) {
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      await sleep(25);
    }
    expect(await running()).toBe(true);
    const takenOverAt = Date.now();
    expect(takenOverAt, 'the takeover came after the dead replica’s room lapsed: nothing left to show').toBeLessThan(lapses[0]! - 300);
    const sentAt = Date.now();
    const statuses = await Promise.all([runIds[0]!, runIds[1]!, runIds[0]!].map((runId) => call(gatewayOf(second), mint(runId))));
    expect(statuses).toEqual([200, 200, 200]);
    const times = arrivals(models);
    expect(times).toHaveLength(5);
    const after = times.slice(2);
    // None reached the provider while the dead replica's two calls held the quota, and never more
    // than two at once counting those until their room lapsed; the first went through as soon as it did.
    expect(after[0]!).toBeGreaterThanOrEqual(lapses[0]!);
    // As soon as: not at a later look of a whole lease or the longest wait (20 s).
    expect(after[0]! - lapses[0]!).toBeLessThan(leaseMs / 3);
    const dead = times.slice(0, 2).map((from, index) => ({ from, to: lapses[index]! - 5 }));
    expect(mostAtOnce([...dead, ...answered(after)])).toBe(2);
    // The waits are recorded with the calls (read at the new leader).
    const waits: number[] = [];
    while (waits.length < 3) {
      waits.length = 0;
      for (const runId of runIds) {
        const lines = (await (await api(second, `/v1/audit?action=model.called&runId=${runId}`)).text()).split('\n').filter(Boolean);
        for (const line of lines) waits.push(Number((JSON.parse(line) as { entry: { data: { quotaWaitMs?: number } } }).entry.data.quotaWaitMs ?? 0));
      }
      if (waits.length < 3) await sleep(50);
    }
    // Each waited (none reached the provider before the lapse, above), and its recorded wait lies
    // within the call: after it was sent and before the last reached the provider. When each reached
    // the gateway depends on the machine, so the wait is not compared with the lapse itself.
    for (const wait of waits) {
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(Math.max(...after) - sentAt);
    }
    console.log(
      `killed → taken over ${takenOverAt - killedAt} ms, room lapsed ${lapses.map((lapse) => lapse - killedAt).join(' and ')} ms, calls through ${after.map((at) => at - killedAt).join(', ')} ms`,
    );

    for (const runId of runIds) await api(second, `/v1/runs/${runId}/cancel`, { method: 'POST', body: '{}' });
    for (const runId of runIds) {
      while (!['cancelled', 'failed', 'succeeded'].includes(((await (await api(second, `/v1/runs/${runId}`)).json()) as { state: string }).state))
        await sleep(50);
    }
    await killed(replicas[second]!.server);
  },
);
