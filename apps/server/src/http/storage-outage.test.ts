// S3 storage goes away for about ten seconds in the middle of a run (the fault proxy's outage: every
// connection to the gateway cut, new ones cut as they are accepted, as when radosgw is killed). The
// outage is the platform's, not the items': the server and its tasks wait it out within
// storage.outageBudgetMs, so no item fails and none spends a second attempt, and `/readyz` answers
// 503 "storage unavailable: …" while S3 is gone and 200 once it is back. The shared test radosgw is
// never killed (other test files use it): the proxy plays the outage in front of it. The items that
// waited for storage say so in their history.
import { afterEach, expect, test, vi } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment, startS3FaultProxy } from '@cairn/s3/testing';
import { runningServers } from './running-server.test-support.ts';

// Registered before the server's own: after-hooks run last-registered first, so the server closes
// (and writes its last objects) while the proxy still forwards, then the proxy and the bucket go.
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});
const start = runningServers();
const terminal = new Set(['succeeded', 'failed', 'cancelled', 'skipped', 'rejected']);

test(
  'a 10-second S3 outage mid-run: 0 items failed, 0 extra attempts, /readyz 503 "storage unavailable" during it and 200 after',
  { timeout: 300_000 },
  async () => {
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    const client = radosgwClient();
    const bucket = await createTestBucket(client);
    cleanups.push(() => deleteTestBucket(client, bucket));
    const proxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 0, seed: 50 });
    cleanups.push(() => proxy.close());
    const { api, base, composition } = await start('tokens', {
      config: {
        // The defaults but the endpoint: maxAttempts 5, outageBudgetMs 60 000.
        storage: { kind: 's3', bucket, prefix: 'cairn/', endpoint: proxy.endpoint, region: radosgwConnection().region, forcePathStyle: true },
      },
    });
    const readiness = async () => {
      const response = await fetch(`${base}/readyz`);
      return { status: response.status, body: (await response.json()) as { ready: boolean; reason?: string } };
    };
    expect((await readiness()).status).toBe(200);

    const items = Array.from({ length: 60 }, (_, index) => ({
      id: `i${String(index).padStart(3, '0')}`,
      runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo "item ${index}" > file-${index}.txt`] },
    }));
    const submitted = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'through-an-outage', concurrency: 8, items }),
    });
    expect(submitted.status).toBe(201);
    const { runId } = (await submitted.json()) as { runId: string };
    const finished = () => composition.engine.items(runId).filter((item) => terminal.has(item.state)).length;

    // The outage starts once some items have finished, with the rest still to run or under way.
    await expect.poll(finished, { timeout: 120_000, interval: 20 }).toBeGreaterThanOrEqual(5);
    proxy.startOutage();
    const unfinishedAtOutage = 60 - finished();
    const duringOutage: { status: number; reason?: string }[] = [];
    // About ten seconds of outage, /readyz asked twice a second all along.
    for (let probe = 0; probe < 20; probe++) {
      const { status, body } = await readiness();
      duringOutage.push({ status, ...(body.reason === undefined ? {} : { reason: body.reason }) });
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const cutDuringOutage = proxy.counts.outage;
    proxy.endOutage();
    await expect.poll(async () => (await readiness()).status, { timeout: 30_000, interval: 100 }).toBe(200);

    const run = await composition.engine.waitForRun(runId);
    const records = composition.engine.items(runId);
    const failed = records.filter((item) => item.state !== 'succeeded');
    const attempts = records.map((item) => composition.engine.attempts(runId, item.itemId).length);
    const figures = {
      unfinishedAtOutage,
      connectionsCut: cutDuringOutage,
      readyzDuringOutage: `${duringOutage.filter((answer) => answer.status === 503).length}/${duringOutage.length} answered 503`,
      itemsFailed: failed.length,
      attemptsSpent: attempts.reduce((sum, count) => sum + count, 0),
      itemsWithMoreThanOneAttempt: attempts.filter((count) => count > 1).length,
      // Their history (attempt.dispatched / attempt.completed entries) says which waited for storage.
      itemsWhoseHistorySaysTheyWaited: new Set(
        [...composition.engine.audit.runEntries(runId)]
          .filter((entry) => (entry.action === 'attempt.dispatched' || entry.action === 'attempt.completed') && Array.isArray(entry.data['storageWaits']))
          .map((entry) => entry.data['itemId']),
      ).size,
    };
    console.info(`storage outage figures: ${JSON.stringify(figures)}`);

    expect(unfinishedAtOutage, 'items were still to run when S3 went away').toBeGreaterThan(0);
    expect(cutDuringOutage, 'the server and its tasks kept trying S3 through the outage').toBeGreaterThan(0);
    expect(failed.map((item) => [item.itemId, item.state, composition.engine.attempts(runId, item.itemId).at(-1)?.failure?.message])).toEqual([]);
    expect(run.state).toBe('succeeded');
    expect(figures.itemsWithMoreThanOneAttempt, 'no item spent a retry on the outage').toBe(0);
    expect(figures.attemptsSpent).toBe(60);
    expect(figures.itemsWhoseHistorySaysTheyWaited, 'the items that waited for storage say so in their history').toBeGreaterThan(0);
    // Every probe but those answered from a check made before the outage (cached up to 1.5 s) said
    // storage was unavailable, and why.
    const notReady = duringOutage.filter((answer) => answer.status === 503);
    expect(notReady.length).toBeGreaterThanOrEqual(duringOutage.length - 4);
    for (const answer of notReady) expect(answer.reason).toMatch(/^storage unavailable: /);
    expect(duringOutage.every((answer) => answer.status === 200 || answer.status === 503)).toBe(true);
    expect((await readiness()).body).toMatchObject({ ready: true });
  },
);
