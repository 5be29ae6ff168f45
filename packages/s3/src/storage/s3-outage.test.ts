// S3 going away for a while (the gateway killed and restarted, a failover), played by the fault
// proxy's outage: every connection cut, new ones cut as they are accepted. Operations wait it out
// within `outageBudgetMs`, past `maxAttempts`; `checkReachable` says at once that S3 is gone.
import { isCairnError, sha256Digest, blobKey } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient, radosgwConnection } from '../testing/radosgw-connection.ts';
import { startS3FaultProxy, type S3FaultProxy } from '../testing/s3-fault-proxy.ts';
import { createS3StorageProvider, type S3StorageProviderSettings } from './s3-storage-provider.ts';

const raw = radosgwClient({ maxAttempts: 1 });
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function storageBehindProxy(settings: Partial<S3StorageProviderSettings>) {
  const bucket = await createTestBucket(raw);
  cleanups.push(() => deleteTestBucket(raw, bucket));
  const proxy: S3FaultProxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 0, seed: 1 });
  cleanups.push(() => proxy.close());
  const storage = createS3StorageProvider({ bucket, client: radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }), ...settings });
  await storage.probe();
  return { storage, proxy };
}

const encoded = (text: string) => new TextEncoder().encode(text);

test(
  'an outage shorter than outageBudgetMs is waited out: every operation under way succeeds once S3 answers, past maxAttempts',
  { timeout: 120_000 },
  async () => {
    const { storage, proxy } = await storageBehindProxy({ maxAttempts: 2, outageBudgetMs: 60_000 });
    await storage.put('before', encoded('written before the outage'));
    await storage.checkReachable();

    proxy.startOutage();
    const unreachable = await storage.checkReachable().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isCairnError(unreachable, 'CAIRN_STORAGE_UNAVAILABLE'), String(unreachable)).toBe(true);
    expect((unreachable as Error).message).toContain('checking that S3 answers');

    const blob = encoded('a blob written during the outage');
    const operations = {
      get: storage.get('before'),
      put: storage.put('during', encoded('plain')),
      ifAbsent: storage.put('claims/one', encoded('claimed'), { ifAbsent: true }),
      blob: storage.put(blobKey(sha256Digest(blob)), blob, { ifAbsent: true }),
      head: storage.head('before'),
      list: storage.list({ prefix: '' }),
    };
    let settled = 0;
    for (const operation of Object.values(operations))
      void operation.then(
        () => settled++,
        () => settled++,
      );
    // Far more connections cut than maxAttempts would allow (6 operations × 2 attempts): each kept trying.
    await expect.poll(() => proxy.counts.outage, { timeout: 60_000, interval: 20 }).toBeGreaterThan(6 * 2 * 3);
    expect(settled, 'no operation gave up during the outage').toBe(0);
    proxy.endOutage();

    expect(new TextDecoder().decode((await operations.get)!)).toBe('written before the outage');
    expect(await operations.put).toEqual({ written: true });
    expect(await operations.ifAbsent, 'an if-absent put of a fresh key is written, however many tries it took').toEqual({ written: true });
    expect(await operations.blob).toEqual({ written: true });
    expect((await operations.head)?.size).toBe('written before the outage'.length);
    expect((await operations.list).keys).toContain('before');
    expect(new TextDecoder().decode((await storage.get('claims/one'))!)).toBe('claimed');
    await storage.checkReachable();
  },
);

test('an outage longer than outageBudgetMs fails the operation with CAIRN_STORAGE_UNAVAILABLE saying what S3 did', { timeout: 60_000 }, async () => {
  const { storage, proxy } = await storageBehindProxy({ maxAttempts: 2, outageBudgetMs: 300 });
  proxy.startOutage();
  const error = await storage.get('anything').then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(isCairnError(error, 'CAIRN_STORAGE_UNAVAILABLE'), String(error)).toBe(true);
  expect((error as Error).message).toContain('get("anything")');
  expect(proxy.counts.outage).toBeGreaterThan(2);
  proxy.endOutage();
  expect(await storage.get('anything')).toBeNull();
});

test('checkReachable: an answer that is not a transient failure counts as reachable; a request left unanswered does not', { timeout: 60_000 }, async () => {
  // Every request is read and never answered, as by a gateway that hangs.
  const stalled = createS3StorageProvider({
    bucket: 'cairn-stalled',
    client: radosgwClient({ endpoint: (await startStallingProxy(cleanups)).endpoint, maxAttempts: 1 }),
  });
  const error = await stalled.checkReachable({ timeoutMs: 300 }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(isCairnError(error, 'CAIRN_STORAGE_UNAVAILABLE'), String(error)).toBe(true);
  // A bucket that is not there is an answer from S3 (404 NoSuchBucket): S3 is up, whatever else is wrong.
  const elsewhere = createS3StorageProvider({ bucket: 'cairn-no-such-bucket-here', client: radosgwClient({ maxAttempts: 1 }) });
  await expect(elsewhere.checkReachable()).resolves.toBeUndefined();
});

async function startStallingProxy(registry: (() => Promise<unknown>)[]) {
  const proxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 1, seed: 3, faults: ['stall'] });
  registry.push(() => proxy.close());
  return proxy;
}
