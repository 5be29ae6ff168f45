// storeUpload frees each chunk of a request read from a socket once the storage asks for the next
// one (putStream's contract lets the producer reuse it then), so a large upload does not pile up
// dead chunks until a garbage collection; the bytes stored are still exactly the bytes sent, and
// chunks that are not the request's own (a stream of the caller's buffers) are left untouched.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { StorageProviderV1 } from '@cairn/core';
import { createLocalStorageProvider } from '@cairn/local';
import { blobKey, isCairnError } from '@cairn/protocol';
import { afterAll, expect, test } from 'vitest';
import { storeUpload, type StoredUpload } from './blob-upload.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-blob-release-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as const;

/** What the storage saw of each chunk it had been given, at the moment it asked for the next. */
interface Observed {
  chunks: number;
  detachedWhenNextAsked: number;
}

/** A real local storage whose putStream notes, when it asks for a chunk, whether the one before was freed. */
function observedStorage(): { storage: StorageProviderV1; observed: Observed } {
  const local = createLocalStorageProvider({ root: mkdtempSync(join(scratch, 'storage-')) });
  const observed: Observed = { chunks: 0, detachedWhenNextAsked: 0 };
  async function* watched(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    let previous: Uint8Array | undefined;
    for await (const chunk of body) {
      if (previous !== undefined && (previous.buffer as ArrayBuffer).detached) observed.detachedWhenNextAsked += 1;
      observed.chunks += 1;
      previous = chunk;
      yield chunk;
    }
  }
  const putStream: StorageProviderV1['putStream'] = (key, body, options) => local.putStream(key, watched(body), options);
  const storage = new Proxy(local, {
    get: (target, name) => {
      if (name === 'putStream') return putStream;
      const value: unknown = Reflect.get(target, name);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage, observed };
}

/** `bytes` POSTed with their length to a server that hands the request to storeUpload; its outcome. */
async function uploadOverHttp(storage: StorageProviderV1, bytes: Uint8Array, announcedDigest: string): Promise<StoredUpload | unknown> {
  let outcome: Promise<StoredUpload | unknown> | undefined;
  const server = createServer((incoming: IncomingMessage, response) => {
    outcome = storeUpload(storage, incoming, { announcedDigest, contentLength: incoming.headers['content-length'], limitBytes: 64 * 1024 * 1024 }).catch(
      (error: unknown) => error,
    );
    void outcome.then(() => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve, reject) => {
      const sent = request({ host: '127.0.0.1', port, method: 'POST', headers: { 'content-length': String(bytes.byteLength) } }, (answer) => {
        answer.resume();
        answer.on('end', resolve);
      });
      sent.on('error', reject);
      // Written in pieces, so that the server reads the body in many chunks of their own.
      for (let offset = 0; offset < bytes.byteLength; offset += 100_000) sent.write(bytes.subarray(offset, offset + 100_000));
      sent.end();
    });
    return await outcome;
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test('a request body streamed to storage is stored byte for byte, each socket chunk freed once the storage asks for the next', async () => {
  const { storage, observed } = observedStorage();
  const bytes = randomBytes(8 * 1024 * 1024 + 5);
  const digest = digestOf(bytes);
  expect(await uploadOverHttp(storage, bytes, digest)).toEqual({ digest, bytes: bytes.byteLength });
  expect(Buffer.from((await storage.get(blobKey(digest)))!).equals(bytes)).toBe(true);
  // Every chunk but a slice of a read that also held the headers (not freed) is a block of its own.
  expect(observed.chunks).toBeGreaterThan(16);
  expect(observed.detachedWhenNextAsked).toBeGreaterThanOrEqual(observed.chunks - 2);
});

test('freeing chunks keeps the digest check: altered bytes are CAIRN_DIGEST_MISMATCH and nothing is stored', async () => {
  const { storage } = observedStorage();
  const bytes = randomBytes(2 * 1024 * 1024);
  const claimed = digestOf(randomBytes(16));
  const refused = await uploadOverHttp(storage, bytes, claimed);
  expect(isCairnError(refused) && refused.code).toBe('CAIRN_DIGEST_MISMATCH');
  expect((await storage.list({ prefix: 'blobs/' })).keys).toEqual([]);
});

test("a body that is not a request read from a socket keeps its chunks: they are the caller's buffers", async () => {
  const { storage, observed } = observedStorage();
  const pieces = Array.from({ length: 8 }, () => randomBytes(64 * 1024));
  const whole = Buffer.concat(pieces);
  const digest = digestOf(whole);
  expect(await storeUpload(storage, Readable.from(pieces), { announcedDigest: digest, contentLength: undefined, limitBytes: whole.byteLength })).toEqual({
    digest,
    bytes: whole.byteLength,
  });
  expect([observed.chunks, observed.detachedWhenNextAsked]).toEqual([8, 0]);
  expect(Buffer.concat(pieces).equals(whole)).toBe(true);
});
