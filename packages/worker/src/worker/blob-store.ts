import type { Digest, StorageProviderV1 } from '@cairn/core';
import { assertDigest, blobKey, CairnError, sha256Digest } from '@cairn/protocol';
import { whileStorageFull } from './while-storage-full.ts';

const emptyDigest = sha256Digest('');

/** Content-addressed blobs (`blobs/<hex>`) of one storage provider, checked on the way in and out. */
export class BlobStore {
  readonly #storage: StorageProviderV1;

  constructor(storage: StorageProviderV1) {
    this.#storage = storage;
  }

  /**
   * The bytes stored under `digest`, checked against it. The empty blob needs no object (the empty
   * workspace, a patch of no change). Throws CAIRN_NOT_FOUND or CAIRN_DIGEST_MISMATCH naming `what`.
   */
  async fetch(digest: Digest, what: string): Promise<Uint8Array> {
    if (digest === emptyDigest) return new Uint8Array(0);
    const key = blobKey(digest);
    const bytes = await this.#storage.get(key);
    if (bytes === null)
      throw new CairnError('CAIRN_NOT_FOUND', `${what} (${key}) is not in storage; the worker must share the engine's storage.`, { path: key });
    assertDigest(bytes, digest, `${what} (${key})`);
    return bytes;
  }

  /**
   * Stores bytes under their digest (if absent: equal bytes are one object) and returns it; while
   * the storage's disk is full it waits for room (see `whileStorageFull`).
   */
  async store(bytes: Uint8Array, contentType: string): Promise<Digest> {
    const digest = sha256Digest(bytes);
    await whileStorageFull(() => this.#storage.put(blobKey(digest), bytes, { ifAbsent: true, contentType }));
    return digest;
  }
}
