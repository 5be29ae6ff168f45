// The S3 server itself dies in the middle of a run: a private one-node Ceph cluster of this test's
// own (scripts/radosgw.sh on ports and a folder of its own; the shared test radosgw, which other
// test files use, is never touched), its radosgw killed with SIGKILL for about ten seconds and
// started again over the same cluster. The outage is the platform's, not the items': no item
// fails, none spends a second attempt, `/readyz` answers 503 while radosgw is gone, and the items
// that waited for storage say so in their history (their attempt.completed entries).
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { createTestBucket, deleteTestBucket, type RadosgwConnection } from '@cairn/s3/testing';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const script = fileURLToPath(new URL('../../../../scripts/radosgw.sh', import.meta.url));
const folder = mkdtempSync(join(tmpdir(), 'cairn-private-radosgw-'));
const gateway = join(folder, 'gw');
let environment: Record<string, string> = {};

/** A loopback port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  environment = { CAIRN_RADOSGW_DIR: gateway, CAIRN_RADOSGW_PORT: String(await freePort()), CAIRN_RADOSGW_MON_PORT: String(await freePort()) };
  // About 13 s on a loaded 2-core machine (a monitor, an in-memory OSD, radosgw, the test user).
  await promisify(execFile)('bash', [script, 'start'], { env: { ...process.env, ...environment }, timeout: 240_000 });
}, 300_000);

afterAll(() => {
  // Its own daemons only: the script's stop reads this folder's pid files and config.
  execFileSync('bash', [script, 'stop'], { env: { ...process.env, ...environment }, stdio: 'ignore', timeout: 60_000 });
  rmSync(folder, { recursive: true, force: true });
}, 90_000);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
const start = runningServers();
const terminal = new Set(['succeeded', 'failed', 'cancelled', 'skipped', 'rejected']);

/** The private radosgw's process, from its pid file. */
const radosgwPid = () => Number(readFileSync(join(gateway, 'run', 'client.rgw.a.pid'), 'utf8').trim());

test(
  'radosgw killed for ~10 s mid-run: 0 items failed, 0 extra attempts, /readyz 503 during it, and the items that waited say so in their history',
  { timeout: 300_000 },
  async () => {
    const connection = JSON.parse(readFileSync(join(gateway, 'connection.json'), 'utf8')) as RadosgwConnection;
    for (const [name, value] of Object.entries({
      AWS_ACCESS_KEY_ID: connection.accessKeyId,
      AWS_SECRET_ACCESS_KEY: connection.secretAccessKey,
      AWS_REGION: connection.region,
    }))
      vi.stubEnv(name, value);
    const client = new S3Client({
      endpoint: connection.endpoint,
      region: connection.region,
      forcePathStyle: true,
      credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    });
    const bucket = await createTestBucket(client);
    cleanups.push(() => deleteTestBucket(client, bucket));
    const { api, base, composition } = await start('tokens', {
      // The defaults but the endpoint: maxAttempts 5, outageBudgetMs 60 000.
      config: { storage: { kind: 's3', bucket, prefix: 'cairn/', endpoint: connection.endpoint, region: connection.region, forcePathStyle: true } },
    });
    const readiness = async () => {
      const response = await fetch(`${base}/readyz`);
      return { status: response.status, body: (await response.json()) as { ready: boolean; reason?: string } };
    };
    expect((await readiness()).status).toBe(200);

    const count = 40;
    const items = Array.from({ length: count }, (_, index) => ({
      id: `i${String(index).padStart(3, '0')}`,
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo "item ${index}" > file-${index}.txt`] },
    }));
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'through-a-radosgw-kill', concurrency: 8, items }),
    });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const finished = () => composition.engine.items(runId).filter((item) => terminal.has(item.state)).length;

    await expect.poll(finished, { timeout: 120_000, interval: 20 }).toBeGreaterThanOrEqual(5);
    const killed = radosgwPid();
    process.kill(killed, 'SIGKILL');
    const unfinishedAtKill = count - finished();
    const duringOutage: { status: number; reason?: string }[] = [];
    for (let probe = 0; probe < 20; probe++) {
      const { status, body } = await readiness();
      duringOutage.push({ status, ...(body.reason === undefined ? {} : { reason: body.reason }) });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Started again over the same cluster (the OSD kept the objects): radosgw forks into the background.
    const conf = join(gateway, 'ceph.conf');
    execFileSync('radosgw', ['-c', conf, '-n', 'client.rgw.a'], { stdio: 'ignore', timeout: 60_000 });
    // The daemon writes its pid file once it has forked.
    await expect.poll(radosgwPid, { timeout: 30_000, interval: 100 }).not.toBe(killed);
    await expect.poll(async () => (await readiness()).status, { timeout: 60_000, interval: 100 }).toBe(200);

    const run = await composition.engine.waitForRun(runId);
    const records = composition.engine.items(runId);
    const failed = records.filter((item) => item.state !== 'succeeded');
    const attempts = records.map((item) => composition.engine.attempts(runId, item.itemId).length);
    // The history: an attempt.dispatched entry says the engine waited to store its manifest, an
    // attempt.completed one that the worker (or the engine reading the result) waited.
    const entries = [...composition.engine.audit.runEntries(runId)].filter(
      (entry) => entry.action === 'attempt.dispatched' || entry.action === 'attempt.completed',
    );
    type Wait = { by: string; waitedMs: number; retries: number; reason: string };
    const waited = entries
      .map((entry) => ({ itemId: String(entry.data['itemId']), action: entry.action, waits: (entry.data['storageWaits'] ?? []) as Wait[] }))
      .filter(({ waits }) => waits.length > 0);
    const longest = Math.max(0, ...waited.flatMap(({ waits }) => waits.map((wait) => wait.waitedMs)));
    const figures = {
      unfinishedAtKill,
      readyzDuringOutage: `${duringOutage.filter((answer) => answer.status === 503).length}/${duringOutage.length} answered 503`,
      itemsFailed: failed.length,
      attemptsSpent: attempts.reduce((sum, total) => sum + total, 0),
      itemsWithMoreThanOneAttempt: attempts.filter((total) => total > 1).length,
      itemsWhoseHistorySaysTheyWaited: new Set(waited.map(({ itemId }) => itemId)).size,
      entriesThatSayTheyWaited: waited.map(
        ({ action, waits }) => `${action}: ${waits.map((wait) => `${wait.by} ${(wait.waitedMs / 1000).toFixed(1)} s`).join(', ')}`,
      ),
      longestWaitMs: longest,
      waitsBy: [...new Set(waited.flatMap(({ waits }) => waits.map((wait) => wait.by)))].sort(),
      aReason: waited[0]?.waits[0]?.reason,
    };
    console.info(`radosgw kill figures: ${JSON.stringify(figures)}`);

    expect(unfinishedAtKill, 'items were still to run when radosgw was killed').toBeGreaterThan(0);
    expect(failed.map((item) => [item.itemId, item.state, composition.engine.attempts(runId, item.itemId).at(-1)?.failure?.message])).toEqual([]);
    expect(run.state).toBe('succeeded');
    expect(figures.itemsWithMoreThanOneAttempt, 'no item spent a retry on the outage').toBe(0);
    expect(figures.attemptsSpent).toBe(count);
    const notReady = duringOutage.filter((answer) => answer.status === 503);
    // All but probes answered from a check made before the kill (cached up to 1.5 s).
    expect(notReady.length).toBeGreaterThanOrEqual(duringOutage.length - 4);
    for (const answer of notReady) expect(answer.reason).toMatch(/^storage unavailable: /);
    // The items under way when radosgw died waited for it, and their history says how long and why.
    expect(waited.length, 'some item waited for storage and its history says so').toBeGreaterThan(0);
    expect(longest, 'a wait spans much of the outage').toBeGreaterThan(3_000);
    for (const { waits } of waited) {
      for (const wait of waits) {
        expect(['worker', 'engine']).toContain(wait.by);
        expect(wait.retries).toBeGreaterThan(0);
        expect(wait.reason.length).toBeGreaterThan(0);
      }
    }
    expect((await readiness()).body).toMatchObject({ ready: true });
  },
);
