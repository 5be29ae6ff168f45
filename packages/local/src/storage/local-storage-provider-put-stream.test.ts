// The directory provider's own promises for a streamed put, beyond the conformance suite's: a
// content-addressed key is checked against what streamed in, and no temporary file outlives a
// put that failed.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { blobKey } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { createLocalStorageProvider } from './local-storage-provider.ts';
import { rejection, temporaryFolders } from '../testing/local.test-support.ts';

async function* chunksOf(body: Uint8Array, size: number, failure?: Error): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < body.byteLength; offset += size) yield body.subarray(offset, offset + size);
  if (failure) throw failure;
}

/** Every name under `root`, folders walked, as paths relative to it. */
function namesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
}

describe('LocalStorageProvider.putStream', () => {
  const folder = temporaryFolders('cairn-local-put-stream-');
  const body = Uint8Array.from({ length: 2 * 1024 * 1024 + 5 }, (_, index) => (index * 7 + (index >> 9)) & 0xff);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;

  test('a content-addressed key is checked against the bytes that streamed in: the right ones are stored, others are CAIRN_DIGEST_MISMATCH and leave nothing', async () => {
    const root = folder();
    const storage = createLocalStorageProvider({ root });
    const altered = Uint8Array.from(body);
    altered[0] = altered[0]! ^ 1;
    const mismatch = await rejection(storage.putStream(blobKey(digest), chunksOf(altered, 64 * 1024), { ifAbsent: true }));
    expect(mismatch.code).toBe('CAIRN_DIGEST_MISMATCH');
    expect(mismatch.details).toMatchObject({ expected: digest });
    expect(await storage.head(blobKey(digest))).toBeNull();
    expect(namesUnder(root)).toEqual(['blobs']);
    expect(await storage.putStream(blobKey(digest), chunksOf(body, 64 * 1024), { ifAbsent: true })).toEqual({ written: true });
    expect(Buffer.from((await storage.get(blobKey(digest)))!).equals(body)).toBe(true);
    expect(await storage.putStream(blobKey(digest), chunksOf(body, 64 * 1024), { ifAbsent: true })).toEqual({ written: false });
    expect(namesUnder(root)).toEqual(['blobs', join('blobs', digest.slice('sha256:'.length))]);
  });

  test('a body that fails leaves no temporary file behind, and its error is the one putStream rejects with', async () => {
    const root = folder();
    const storage = createLocalStorageProvider({ root });
    const failure = new Error('cut off');
    await expect(storage.putStream('uploads/cut', chunksOf(body, 64 * 1024, failure))).rejects.toBe(failure);
    expect(namesUnder(root)).toEqual(['uploads']);
  });
});
