import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, NoSuchKey } from '@aws-sdk/client-s3';
import { blobKey, isCairnError, sha256Digest } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { createTestBucket, deleteTestBucket, radosgwClient } from '../testing/radosgw-connection.ts';
import { createS3StorageProvider } from './s3-storage-provider.ts';

// putStream past the threshold, against the real server: a multipart upload, aborted on every
// failure, if-absent kept exact. The small-body cases run in the conformance suite.
const mebibyte = 1024 * 1024;
const raw = radosgwClient({ maxAttempts: 1 });
const buckets: string[] = [];
afterAll(async () => {
  for (const bucket of buckets.splice(0)) await deleteTestBucket(raw, bucket).catch(() => undefined);
}, 120_000);

async function streamingProvider() {
  const bucket = await createTestBucket(raw);
  buckets.push(bucket);
  // The smallest parts S3 takes, so a test body of a few parts is small.
  return createS3StorageProvider({
    bucket,
    client: radosgwClient({ maxAttempts: 1 }),
    multipartThresholdBytes: 5 * mebibyte,
    multipartPartBytes: 5 * mebibyte,
  });
}

/** The bytes `chunks(total, seed)` yields, whole. */
function content(total: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: total }, (_, index) => (index * 31 + seed) & 0xff);
}

/** `content(total, seed)` in 64 KiB chunks, ONE buffer reused for each (as the contract allows); throws at `failAt` bytes. */
async function* chunks(total: number, seed: number, read: { bytes: number } = { bytes: 0 }, failAt?: number): AsyncGenerator<Uint8Array> {
  const whole = content(total, seed);
  const buffer = new Uint8Array(64 * 1024);
  for (let offset = 0; offset < total; offset += buffer.byteLength) {
    if (failAt !== undefined && offset >= failAt) throw new Error('the producer failed mid-way');
    const size = Math.min(buffer.byteLength, total - offset);
    buffer.set(whole.subarray(offset, offset + size));
    read.bytes += size;
    yield buffer.subarray(0, size);
  }
}

async function readRaw(bucket: string, key: string): Promise<Uint8Array | null> {
  try {
    return await (await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();
  } catch (error) {
    if (error instanceof NoSuchKey) return null;
    throw error;
  }
}

async function uploadsInProgress(bucket: string): Promise<string[]> {
  const listed = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (listed.Uploads ?? []).map((upload) => upload.Key!);
}

async function stagedObjects(bucket: string): Promise<string[]> {
  const listed = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: '.cairn\\uploads/' }));
  return (listed.Contents ?? []).map((object) => object.Key!);
}

test('a body over the threshold is uploaded in parts from a reused buffer, read back whole, nothing left in progress', { timeout: 120_000 }, async () => {
  const storage = await streamingProvider();
  const total = 12 * mebibyte + 123;
  expect(await storage.putStream('big/object', chunks(total, 1), { contentType: 'application/octet-stream' })).toEqual({ written: true });
  expect(Buffer.compare(Buffer.from((await readRaw(storage.settings.bucket, 'big/object'))!), Buffer.from(content(total, 1)))).toBe(0);
  // A multipart object's ETag names its part count: three parts of 5 MiB, 5 MiB and the rest.
  const head = await raw.send(new HeadObjectCommand({ Bucket: storage.settings.bucket, Key: 'big/object' }));
  expect(head.ETag).toMatch(/-3"$/);
  expect(head.ContentType).toBe('application/octet-stream');
  expect(await uploadsInProgress(storage.settings.bucket)).toEqual([]);
});

test(
  'a producer that throws mid-way: putStream rejects with its error, nothing is stored and the multipart upload is aborted',
  { timeout: 120_000 },
  async () => {
    const storage = await streamingProvider();
    const failure = await storage.putStream('big/broken', chunks(20 * mebibyte, 2, { bytes: 0 }, 11 * mebibyte)).catch((error: unknown) => error);
    expect((failure as Error).message).toBe('the producer failed mid-way');
    expect(await readRaw(storage.settings.bucket, 'big/broken')).toBeNull();
    expect(await uploadsInProgress(storage.settings.bucket)).toEqual([]);
  },
);

test('a content-addressed key whose large body does not match: CAIRN_DIGEST_MISMATCH, nothing stored, nothing in progress', { timeout: 120_000 }, async () => {
  const storage = await streamingProvider();
  const key = blobKey(sha256Digest(content(100, 9)));
  const failure = await storage.putStream(key, chunks(11 * mebibyte, 3), { ifAbsent: true }).catch((error: unknown) => error);
  expect(isCairnError(failure, 'CAIRN_DIGEST_MISMATCH')).toBe(true);
  const plain = await storage.putStream(key, chunks(11 * mebibyte, 3)).catch((error: unknown) => error);
  expect(isCairnError(plain, 'CAIRN_DIGEST_MISMATCH')).toBe(true);
  expect(await readRaw(storage.settings.bucket, key)).toBeNull();
  expect(await uploadsInProgress(storage.settings.bucket)).toEqual([]);
  expect(await stagedObjects(storage.settings.bucket)).toEqual([]);
});

test(
  'if-absent over the threshold: exactly one of racing puts is written, a later one reads its body to the end and changes nothing',
  { timeout: 180_000 },
  async () => {
    const storage = await streamingProvider();
    const total = 6 * mebibyte;
    const results = await Promise.all([1, 2, 3].map((seed) => storage.putStream('big/once', chunks(total, seed), { ifAbsent: true })));
    expect(results.filter((result) => result.written)).toHaveLength(1);
    const winner = [1, 2, 3][results.findIndex((result) => result.written)]!;
    const stored = await readRaw(storage.settings.bucket, 'big/once');
    expect(createHash('sha256').update(stored!).digest('hex')).toBe(createHash('sha256').update(content(total, winner)).digest('hex'));
    const read = { bytes: 0 };
    expect(await storage.putStream('big/once', chunks(total, 7, read), { ifAbsent: true })).toEqual({ written: false });
    expect(read.bytes).toBe(total);
    expect(Buffer.compare(Buffer.from((await readRaw(storage.settings.bucket, 'big/once'))!), Buffer.from(content(total, winner)))).toBe(0);
    // The staged copies are gone, and so are their uploads.
    expect(await stagedObjects(storage.settings.bucket)).toEqual([]);
    expect(await uploadsInProgress(storage.settings.bucket)).toEqual([]);
  },
);
