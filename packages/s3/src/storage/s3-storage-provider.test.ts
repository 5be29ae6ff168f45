import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describeStorageProvider } from '@cairn/conformance';
import { blobKey, isCairnError, sha256Digest } from '@cairn/protocol';
import { afterAll, describe, expect, test } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient, radosgwConnection } from '../testing/radosgw-connection.ts';
import { startS3FaultProxy } from '../testing/s3-fault-proxy.ts';
import { createS3StorageProvider, type S3StorageProvider, type S3StorageProviderSettings } from './s3-storage-provider.ts';

const mebibyte = 1024 * 1024;
const raw = radosgwClient({ maxAttempts: 1 });
const buckets: string[] = [];
// Each deletion lists and deletes a bucket's objects over the network: given time on a loaded machine.
afterAll(async () => {
  for (const bucket of buckets.splice(0)) await deleteTestBucket(raw, bucket).catch(() => undefined);
}, 120_000);

async function newBucket(): Promise<string> {
  const bucket = await createTestBucket(raw);
  buckets.push(bucket);
  return bucket;
}

/** A provider on the test server, with the SDK's own retries off as `s3ClientFor` builds them. */
function providerFor(
  bucket: string,
  settings: Partial<S3StorageProviderSettings> = {},
  client: S3Client = radosgwClient({ maxAttempts: 1 }),
): S3StorageProvider {
  return createS3StorageProvider({ bucket, client, ...settings });
}

async function readRaw(bucket: string, key: string): Promise<Uint8Array | null> {
  try {
    const response = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await response.Body!.transformToByteArray();
  } catch (error) {
    if (error instanceof NoSuchKey) return null;
    throw error;
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string; cause?: unknown }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

const patterned = (length: number, seed = 0) => Uint8Array.from({ length }, (_, index) => (index * 31 + (index >> 9) + seed) & 0xff);

describeStorageProvider({
  name: 's3 (radosgw)',
  timeoutMs: 60_000,
  // The test server keeps keys to about 400 bytes (its OSD back end); longer ones are stored hashed.
  create: async () => providerFor(await createTestBucket(raw), { maximumObjectKeyBytes: 400 }),
  oracle: (storage) => ({
    readRaw: (key) => readRaw(storage.settings.bucket, key),
    writeRaw: async (key, body) => {
      await raw.send(new PutObjectCommand({ Bucket: storage.settings.bucket, Key: key, Body: body }));
    },
  }),
  cleanup: (storage) => deleteTestBucket(raw, storage.settings.bucket),
});

describe('S3StorageProvider: the probe', () => {
  test('an unversioned bucket passes: the probe reports If-None-Match enforced and leaves no probe object behind', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket, { prefix: 'cairn' });
    const probe = await storage.probe();
    expect(probe).toMatchObject({ ifAbsentEnforced: true, encryption: 'bucket-default', location: `s3://${bucket}/cairn/` });
    expect(await storage.probe(), 'memoized: the same answer').toBe(probe);
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  test('a versioned bucket on radosgw is refused with CAIRN_STORAGE_UNSUPPORTED naming the endpoint, and every operation fails', async () => {
    const bucket = await newBucket();
    await raw.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const endpoint = radosgwConnection().endpoint;
    const storage = providerFor(bucket, { endpoint });
    const error = await rejection(storage.put('runs/a.json', new Uint8Array([1]), { ifAbsent: true }));
    expect(error.code).toBe('CAIRN_STORAGE_UNSUPPORTED');
    expect(error.message).toContain(endpoint);
    expect(error.message).toContain(`s3://${bucket}/`);
    expect(error.message).toContain('versioned (versioning Enabled)');
    // Kept: a refusal is not probed again, and never degrades to last-writer-wins.
    for (const operation of [storage.get('runs/a.json'), storage.list(), storage.head('x'), storage.delete('x'), storage.probe()]) {
      expect((await rejection(operation)).code).toBe('CAIRN_STORAGE_UNSUPPORTED');
    }
    expect(await readRaw(bucket, 'runs/a.json')).toBeNull();
  });

  test('an endpoint that answers 200 to every put is refused, named', async () => {
    const requests: string[] = [];
    const server = createServer((request, response) => {
      requests.push(`${request.method} ${decodeURIComponent(request.url ?? '')}`);
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { etag: '"0"', 'content-length': 0 });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const storage = providerFor('last-writer-wins', { endpoint }, radosgwClient({ endpoint, maxAttempts: 1 }));
      const error = await rejection(storage.probe());
      expect(error.code).toBe('CAIRN_STORAGE_UNSUPPORTED');
      expect(error.message).toContain(`s3://last-writer-wins/ at ${endpoint}`);
      expect(error.message).toContain('If-None-Match');
      expect(requests.filter((line) => line.startsWith('PUT /last-writer-wins/.cairn\\probe/'))).toHaveLength(2);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('a probe that could not reach S3 is not kept: the next operation probes again and works', async () => {
    const bucket = await newBucket();
    let faulted = 0;
    // The first two requests (the probe's first put and its retry) answer 503; everything after goes through.
    const proxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 1, seed: 2, faults: ['status-503'], select: () => faulted++ < 2 });
    try {
      const storage = providerFor(bucket, { maxAttempts: 2, outageBudgetMs: 0 }, radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }));
      const error = await rejection(storage.put('a', new Uint8Array([1])));
      expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
      expect(error.message).toContain('SlowDown');
      expect(await storage.put('a', new Uint8Array([1]))).toEqual({ written: true });
      expect(await storage.probe()).toMatchObject({ ifAbsentEnforced: true });
      expect(proxy.counts['status-503']).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  test('an unreachable endpoint is CAIRN_STORAGE_UNAVAILABLE, and probed again by the next operation', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const storage = providerFor('cairn-nowhere', { endpoint, maxAttempts: 2, outageBudgetMs: 0 }, radosgwClient({ endpoint, maxAttempts: 1 }));
    const error = await rejection(storage.get('a'));
    expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect(error.message).toContain(`s3://cairn-nowhere/ at ${endpoint}`);
    expect(error.message).toContain('check that the endpoint is reachable');
    expect(error.cause).toBeDefined();
    expect((await rejection(storage.get('a'))).code).toBe('CAIRN_STORAGE_UNAVAILABLE');
  });
});

describe('S3StorageProvider: errors', () => {
  test('wrong credentials, found through the default chain, are CAIRN_STORAGE_UNAVAILABLE saying which key to check', async () => {
    const { endpoint, region, accessKeyId } = radosgwConnection();
    const bucket = await newBucket();
    const previous = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = 'not-the-secret';
    try {
      const storage = createS3StorageProvider({ bucket, endpoint, region, forcePathStyle: true });
      const error = await rejection(storage.put('a', new Uint8Array([1])));
      expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
      expect(error.message).toContain('SignatureDoesNotMatch');
      expect(error.message).toContain('AWS_SECRET_ACCESS_KEY');
      expect((error.cause as { name?: string }).name).toBe('SignatureDoesNotMatch');
      process.env['AWS_SECRET_ACCESS_KEY'] = radosgwConnection().secretAccessKey;
      const good = createS3StorageProvider({ bucket, endpoint, region, forcePathStyle: true });
      expect(await good.put('a', new Uint8Array([1]))).toEqual({ written: true });
    } finally {
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', previous.id],
        ['AWS_SECRET_ACCESS_KEY', previous.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('a request that gets no answer is abandoned after requestTimeoutMs and retried; one that never does fails as UNAVAILABLE', async () => {
    const { region, accessKeyId, secretAccessKey } = radosgwConnection();
    const bucket = await newBucket();
    await providerFor(bucket).put('slow', new TextEncoder().encode('eventually'));
    let stalled = 0;
    const proxy = await startS3FaultProxy({
      target: radosgwConnection().endpoint,
      faultRate: 1,
      seed: 5,
      faults: ['stall'],
      // The probe goes through; then the first GET hangs, the retry is answered.
      select: (request) => request.method === 'GET' && stalled++ === 0,
    });
    const previous = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = secretAccessKey;
    try {
      const storage = createS3StorageProvider({ bucket, endpoint: proxy.endpoint, region, forcePathStyle: true, requestTimeoutMs: 500 });
      const started = Date.now();
      expect(new TextDecoder().decode((await storage.get('slow'))!)).toBe('eventually');
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(proxy.counts.stall).toBe(1);
      const alwaysStalled = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 1, seed: 5, faults: ['stall'] });
      try {
        const hopeless = createS3StorageProvider({
          bucket,
          endpoint: alwaysStalled.endpoint,
          region,
          forcePathStyle: true,
          requestTimeoutMs: 200,
          maxAttempts: 2,
          outageBudgetMs: 0,
        });
        const error = await rejection(hopeless.get('slow'));
        expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
        expect(error.message).toContain('TimeoutError');
        // The probe's put, twice, then its clean-up delete, twice: every request gave up, none hung.
        expect(alwaysStalled.counts.stall).toBe(4);
      } finally {
        await alwaysStalled.close();
      }
    } finally {
      await proxy.close();
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', previous.id],
        ['AWS_SECRET_ACCESS_KEY', previous.secret],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  }, 30_000);

  test('a missing bucket is CAIRN_STORAGE_UNAVAILABLE naming it and saying Cairn never creates one', async () => {
    const bucket = `cairn-missing-${randomBytes(4).toString('hex')}`;
    const error = await rejection(providerFor(bucket).list());
    expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect(error.message).toContain(`s3://${bucket}/`);
    expect(error.message).toContain('NoSuchBucket');
    expect(error.message).toContain('never creates a bucket');
  });

  test('settings are checked at construction, named s3.storage.<option>', () => {
    const invalid = (settings: unknown) => {
      try {
        createS3StorageProvider(settings as S3StorageProviderSettings);
      } catch (error) {
        if (isCairnError(error, 'CAIRN_CONFIG_INVALID')) return error.issues.map((issue) => issue.path);
        throw error;
      }
      throw new Error('expected CAIRN_CONFIG_INVALID');
    };
    expect(invalid({ bucket: 'Bad_Bucket' })).toEqual(['s3.storage.bucket']);
    expect(invalid({ bucket: 'good', encryption: { kind: 'sse-kms' } })).toEqual(['s3.storage.encryption.keyId']);
    expect(invalid({ bucket: 'good', multipartPartBytes: 1024 })).toEqual(['s3.storage.multipartPartBytes']);
    expect(invalid({ bucket: 'good', multipartThresholdBytes: 6 * mebibyte, multipartPartBytes: 8 * mebibyte })).toEqual(['s3.storage.multipartPartBytes']);
    expect(invalid({ bucket: 'good', colour: 'blue' })).toEqual(['s3.storage.colour']);
  });
});

describe('S3StorageProvider: prefix, digests and streams', () => {
  test('keys live under the prefix; listing sees only them; a key too long with the prefix is refused before any I/O', async () => {
    const bucket = await newBucket();
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'outside', Body: 'not ours' }));
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'cairn/in//valid', Body: 'no key maps to this' }));
    const storage = providerFor(bucket, { prefix: 'cairn' });
    await storage.put('runs/a.json', new TextEncoder().encode('{}'), { contentType: 'application/json' });
    expect(await readRaw(bucket, 'cairn/runs/a.json')).toEqual(new TextEncoder().encode('{}'));
    expect(await storage.head('runs/a.json')).toEqual({ key: 'runs/a.json', size: 2, contentType: 'application/json' });
    expect((await storage.list()).keys).toEqual(['runs/a.json']);
    expect(await storage.get('outside')).toBeNull();
    expect((await rejection(storage.put('k'.repeat(1025), new Uint8Array([1])))).code).toBe('CAIRN_STORAGE_KEY_INVALID');
    expect((await rejection(storage.list({ prefix: 'runs/', cursor: (await storage.list({ prefix: '', limit: 1 })).cursor ?? 'x' }))).code).toBe(
      'CAIRN_STORAGE_LIST_INVALID',
    );
  });

  test('a key too long for the server is stored under its hash, read, listed in order and deleted', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket, { prefix: 'cairn', maximumObjectKeyBytes: 300 });
    // 'é' sorts after 'z' in UTF-8 bytes.
    const long = `a/${'é'.repeat(400)}`;
    for (const key of ['a/0', long, 'a/z', 'b/1']) await storage.put(key, new TextEncoder().encode(key));
    expect(new TextDecoder().decode((await storage.get(long))!)).toBe(long);
    expect((await storage.head(long))?.size).toBe(Buffer.byteLength(long));
    expect((await storage.list({ prefix: 'a/' })).keys).toEqual(['a/0', 'a/z', long]);
    const pages = [await storage.list({ prefix: 'a/', limit: 1 })];
    while (pages.at(-1)!.cursor !== null) pages.push(await storage.list({ prefix: 'a/', limit: 1, cursor: pages.at(-1)!.cursor! }));
    expect(pages.flatMap((page) => page.keys)).toEqual(['a/0', 'a/z', long]);
    const rawKeys = ((await raw.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((object) => object.Key);
    expect(rawKeys).toContain(`cairn/.cairn\\long-keys/${createHash('sha256').update(long).digest('hex')}`);
    expect(await storage.put(long, new Uint8Array([1]), { ifAbsent: true })).toEqual({ written: false });
    await storage.delete(long);
    expect(await storage.get(long)).toBeNull();
    expect((await storage.list({ prefix: 'a/' })).keys).toEqual(['a/0', 'a/z']);
  });

  test('a cursor of another listing (another prefix) is CAIRN_STORAGE_LIST_INVALID', async () => {
    const storage = providerFor(await newBucket());
    for (const key of ['a/1', 'a/2', 'b/1']) await storage.put(key, new Uint8Array([1]));
    const first = await storage.list({ prefix: 'a/', limit: 1 });
    expect(first.cursor).not.toBeNull();
    const error = await rejection(storage.list({ prefix: 'b/', cursor: first.cursor! }));
    expect(error.code).toBe('CAIRN_STORAGE_LIST_INVALID');
    expect(error.message).toContain('"a/"');
    expect((await storage.list({ prefix: 'a/', cursor: first.cursor! })).keys).toEqual(['a/2']);
  });

  test('a content-addressed object altered in the bucket: get raises CAIRN_DIGEST_MISMATCH, getStream before the last chunk', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket);
    const body = patterned(3 * mebibyte);
    const key = blobKey(sha256Digest(body));
    expect((await rejection(storage.put(key, patterned(10)))).code).toBe('CAIRN_DIGEST_MISMATCH');
    await storage.put(key, body, { ifAbsent: true });
    expect(Buffer.from((await storage.get(key))!).equals(body)).toBe(true);
    const altered = Uint8Array.from(body);
    altered[altered.length - 1]! ^= 1;
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: altered }));
    expect((await rejection(storage.get(key))).code).toBe('CAIRN_DIGEST_MISMATCH');
    const received: Uint8Array[] = [];
    const streamError = await rejection(
      (async () => {
        for await (const chunk of (await storage.getStream(key))!) received.push(chunk);
      })(),
    );
    expect(streamError.code).toBe('CAIRN_DIGEST_MISMATCH');
    expect(received.reduce((sum, chunk) => sum + chunk.byteLength, 0)).toBeLessThan(body.byteLength);
  });

  test('breaking out of a stream releases the body: the connection is reused and later reads work', async () => {
    const storage = providerFor(await newBucket(), { maxAttempts: 1 });
    // More rounds than the SDK's 50 sockets: a body left open would hold its socket and hang the reads.
    await storage.put('big', patterned(mebibyte));
    for (let round = 0; round < 60; round++) {
      for await (const _chunk of (await storage.getStream('big'))!) break;
    }
    expect(Buffer.from((await storage.get('big'))!).equals(patterned(mebibyte))).toBe(true);
  }, 60_000);

  test('a stream cut mid-body whose object was replaced meanwhile fails: never a mix of two objects', async () => {
    const bucket = await newBucket();
    await providerFor(bucket).put('big', patterned(2 * mebibyte, 1));
    let gets = 0;
    const proxy = await startS3FaultProxy({
      target: radosgwConnection().endpoint,
      faultRate: 1,
      seed: 11,
      faults: ['reset-after'],
      select: (request) => request.method === 'GET' && gets++ === 0,
    });
    try {
      const storage = providerFor(bucket, { maxAttempts: 5 }, radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }));
      const stream = (await storage.getStream('big'))!;
      const received: Uint8Array[] = [];
      const error = await rejection(
        (async () => {
          for await (const chunk of stream) {
            if (received.length === 0) await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: patterned(2 * mebibyte, 2) }));
            received.push(Uint8Array.from(chunk));
          }
        })(),
      );
      expect(error.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
      expect(error.message).toContain('replaced or deleted');
      expect(Buffer.concat(received).equals(Buffer.from(patterned(2 * mebibyte, 1)).subarray(0, Buffer.concat(received).byteLength))).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  test('a stream cut mid-body is resumed from where it stopped, and never ends short', async () => {
    const bucket = await newBucket();
    await providerFor(bucket).put('big', patterned(2 * mebibyte, 3));
    const proxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 0.5, seed: 7, faults: ['reset-after'] });
    try {
      const storage = providerFor(bucket, { maxAttempts: 20 }, radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }));
      for (let round = 0; round < 5; round++) {
        const chunks: Uint8Array[] = [];
        for await (const chunk of (await storage.getStream('big'))!) chunks.push(Uint8Array.from(chunk));
        expect(Buffer.concat(chunks).equals(Buffer.from(patterned(2 * mebibyte, 3))), `round ${round}`).toBe(true);
      }
      expect(proxy.counts['reset-after']).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('S3StorageProvider: the prefix through the whole contract', () => {
  // The same suite with every key under a prefix (the way a shared bucket is used), the oracle
  // reading `cairn/<key>` directly.
  describeStorageProvider({
    name: 's3 (radosgw, prefix cairn/)',
    timeoutMs: 60_000,
    create: async () => providerFor(await createTestBucket(raw), { prefix: 'cairn/', maximumObjectKeyBytes: 400 }),
    oracle: (storage) => ({
      readRaw: (key) => readRaw(storage.settings.bucket, `cairn/${key}`),
      writeRaw: async (key, body) => {
        await raw.send(new PutObjectCommand({ Bucket: storage.settings.bucket, Key: `cairn/${key}`, Body: body }));
      },
    }),
    cleanup: (storage) => deleteTestBucket(raw, storage.settings.bucket),
  });
});

describe('S3StorageProvider: large objects', () => {
  test('a 21 MiB object is uploaded in parts and round-trips with its digest', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket, { multipartThresholdBytes: 8 * mebibyte, multipartPartBytes: 5 * mebibyte });
    const body = patterned(21 * mebibyte + 13, 5);
    const key = blobKey(sha256Digest(body));
    expect(await storage.put(key, body)).toEqual({ written: true });
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(head.ETag, 'a multipart ETag ends in -<parts>').toMatch(/-5"$/);
    expect(sha256Digest((await readRaw(bucket, key))!)).toBe(sha256Digest(body));
    expect(sha256Digest((await storage.get(key))!)).toBe(sha256Digest(body));
    const hash = createHash('sha256');
    for await (const chunk of (await storage.getStream(key))!) hash.update(chunk);
    expect(`sha256:${hash.digest('hex')}`).toBe(sha256Digest(body));
    expect((await storage.head(key))?.size).toBe(body.byteLength);
  }, 60_000);

  test('a multipart completion whose reply is lost is recognised as done on the retry (the object is ours), not failed', async () => {
    const bucket = await newBucket();
    let completions = 0;
    const proxy = await startS3FaultProxy({
      target: radosgwConnection().endpoint,
      faultRate: 1,
      seed: 3,
      faults: ['reset-after'],
      // The first completion is carried out by S3, then its reply is cut.
      select: (request) => request.method === 'POST' && (request.url ?? '').includes('uploadId=') && completions++ === 0,
    });
    try {
      const storage = providerFor(
        bucket,
        { multipartThresholdBytes: 5 * mebibyte, multipartPartBytes: 5 * mebibyte },
        radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      );
      const body = patterned(11 * mebibyte, 9);
      expect(await storage.put('large/completed-once', body)).toEqual({ written: true });
      expect(proxy.counts['reset-after']).toBe(1);
      expect(Buffer.from((await readRaw(bucket, 'large/completed-once'))!).equals(body)).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  test('20 racing if-absent puts of one large key: exactly one is written, and its body is the one stored', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket, { multipartThresholdBytes: 5 * mebibyte, multipartPartBytes: 5 * mebibyte });
    const bodies = Array.from({ length: 20 }, (_, index) => patterned(6 * mebibyte, index));
    const results = await Promise.all(bodies.map((body) => storage.put('race/large', body, { ifAbsent: true })));
    const winners = results.flatMap((result, index) => (result.written ? [index] : []));
    expect(winners).toHaveLength(1);
    expect(Buffer.from((await readRaw(bucket, 'race/large'))!).equals(Buffer.from(bodies[winners[0]!]!))).toBe(true);
  }, 120_000);
});

describe('S3StorageProvider: encryption', () => {
  test('SSE-KMS: objects are encrypted with the configured key, read back, and the probe saw it echoed', async () => {
    const bucket = await newBucket();
    const { kmsKeyId } = radosgwConnection();
    const storage = providerFor(bucket, {
      encryption: { kind: 'sse-kms', keyId: kmsKeyId },
      multipartThresholdBytes: 5 * mebibyte,
      multipartPartBytes: 5 * mebibyte,
    });
    expect(await storage.probe()).toMatchObject({ encryption: 'sse-kms', encryptionEchoed: 'aws:kms' });
    await storage.put('secret/small', new TextEncoder().encode('hush'));
    await storage.put('secret/if-absent', new TextEncoder().encode('hush'), { ifAbsent: true });
    await storage.put('secret/large', patterned(6 * mebibyte));
    for (const key of ['secret/small', 'secret/if-absent', 'secret/large']) {
      const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      expect(head.ServerSideEncryption, key).toBe('aws:kms');
      expect(head.SSEKMSKeyId, key).toBe(kmsKeyId);
    }
    expect(new TextDecoder().decode((await storage.get('secret/small'))!)).toBe('hush');
    expect(Buffer.from((await storage.get('secret/large'))!).equals(patterned(6 * mebibyte))).toBe(true);
  }, 60_000);

  test('SSE-S3: objects are written and read back (radosgw does not echo it; nothing to check)', async () => {
    const storage = providerFor(await newBucket(), { encryption: { kind: 'sse-s3' } });
    expect(await storage.probe()).toMatchObject({ encryption: 'sse-s3' });
    await storage.put('plain', new TextEncoder().encode('aes'));
    expect(new TextDecoder().decode((await storage.get('plain'))!)).toBe('aes');
  });

  test('unset: no header is sent, so the bucket default applies', async () => {
    const bucket = await newBucket();
    const storage = providerFor(bucket);
    await storage.put('plain', new TextEncoder().encode('x'));
    expect((await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'plain' }))).ServerSideEncryption).toBeUndefined();
  });

  test.each([
    ['another algorithm', { 'x-amz-server-side-encryption': 'AES256' }, 'ServerSideEncryption: AES256'],
    ['another key', { 'x-amz-server-side-encryption-aws-kms-key-id': 'someone-elses-key' }, 'SSEKMSKeyId: someone-elses-key'],
  ])('an answer that shows less encryption than asked (%s) is refused with CAIRN_STORAGE_UNSUPPORTED', async (_case, rewrite, shown) => {
    const bucket = await newBucket();
    const proxy = await startS3FaultProxy({
      target: radosgwConnection().endpoint,
      faultRate: 0,
      seed: 1,
      rewriteResponseHeaders: (headers, request) =>
        request.method === 'PUT' && headers['x-amz-server-side-encryption'] !== undefined ? { ...headers, ...rewrite } : headers,
    });
    try {
      const storage = providerFor(
        bucket,
        { encryption: { kind: 'sse-kms', keyId: radosgwConnection().kmsKeyId } },
        radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      );
      const error = await rejection(storage.put('secret', new TextEncoder().encode('x')));
      expect(error.code).toBe('CAIRN_STORAGE_UNSUPPORTED');
      expect(error.message).toContain(shown);
      expect(error.message).toContain('s3.storage.encryption');
    } finally {
      await proxy.close();
    }
  });
});

describe('S3StorageProvider: faults', () => {
  test('hundreds of puts, gets and lists through 20% injected 5xx and resets: nothing lost or corrupt', async () => {
    const bucket = await newBucket();
    const proxy = await startS3FaultProxy({ target: radosgwConnection().endpoint, faultRate: 0.2, seed: 13 });
    try {
      const storage = providerFor(
        bucket,
        { maxAttempts: 12, multipartThresholdBytes: 5 * mebibyte, multipartPartBytes: 5 * mebibyte },
        radosgwClient({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      );
      const objects = new Map<string, Uint8Array>();
      const ifAbsentResults: boolean[] = [];
      // Plain keys, content-addressed blobs, if-absent writes, and a few objects large enough for parts and cut streams.
      const work = Array.from({ length: 120 }, async (_, index) => {
        const size = index % 15 === 2 ? 6 * mebibyte : index % 7 === 0 ? 300 * 1024 : 1 + ((index * 977) % 5000);
        const body = patterned(size, index);
        if (index % 3 === 0) {
          const key = blobKey(sha256Digest(body));
          objects.set(key, body);
          await storage.put(key, body, { ifAbsent: true });
        } else if (index % 3 === 1) {
          const key = `runs/${String(index).padStart(3, '0')}.json`;
          objects.set(key, body);
          ifAbsentResults.push((await storage.put(key, body, { ifAbsent: true })).written);
        } else {
          const key = `logs/${index}/stdout`;
          objects.set(key, body);
          await storage.put(key, body);
        }
      });
      for (let start = 0; start < work.length; start += 8) await Promise.all(work.slice(start, start + 8));
      expect(ifAbsentResults.every(Boolean), 'each if-absent put of a fresh key reports written, even when its reply was lost').toBe(true);
      for (const [key, body] of objects) {
        expect(Buffer.from((await storage.get(key))!).equals(Buffer.from(body)), `get ${key}`).toBe(true);
        if (body.byteLength > 200 * 1024) {
          const chunks: Uint8Array[] = [];
          for await (const chunk of (await storage.getStream(key))!) chunks.push(Uint8Array.from(chunk));
          expect(Buffer.concat(chunks).equals(Buffer.from(body)), `getStream ${key}`).toBe(true);
        }
        expect((await storage.head(key))?.size, `head ${key}`).toBe(body.byteLength);
      }
      const listed: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { keys: readonly string[]; cursor: string | null } = await storage.list({ limit: 7, ...(cursor === null ? {} : { cursor }) });
        listed.push(...page.keys);
        cursor = page.cursor;
      } while (cursor !== null);
      expect(listed).toEqual([...objects.keys()].sort((left, right) => Buffer.compare(Buffer.from(left), Buffer.from(right))));
      // The bucket read directly, past the proxy: every object there, byte for byte.
      for (const [key, body] of objects) expect(Buffer.from((await readRaw(bucket, key))!).equals(Buffer.from(body)), `raw ${key}`).toBe(true);
      for (const fault of ['status-500', 'status-503', 'reset-before', 'reset-after'] as const) expect(proxy.counts[fault], fault).toBeGreaterThan(10);
    } finally {
      await proxy.close();
    }
  }, 300_000);
});
