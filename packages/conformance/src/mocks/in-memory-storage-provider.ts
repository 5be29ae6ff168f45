import type { StorageListOptions, StorageListPage, StorageObjectMetadata, StoragePutOptions, StoragePutResult, StorageProviderV1 } from '@cairn/core';
import { CairnError, storageKeySegments } from '@cairn/protocol';

/** The objects of an in-memory store; hand the same map to an oracle to read behind its back. */
export type InMemoryStorageBackend = Map<string, Uint8Array>;

/** Settings of `createInMemoryStorageProvider`. */
export interface InMemoryStorageProviderSettings {
  /** The map holding the objects; a new empty one when omitted. Share it to simulate a restart. */
  readonly backend?: InMemoryStorageBackend;
}

const maximumListLimit = 1000;

/**
 * StorageProviderV1 over a Map, for tests of code that stores blobs. Keys are checked like a real
 * backend checks them, bodies are copied in and out, and an if-absent put is a synchronous
 * check-and-set, which is atomic on the single JavaScript thread.
 */
export class InMemoryStorageProvider implements StorageProviderV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly capabilities = { ifAbsent: true, stream: true, putStream: true } as const;
  /** The backing map (for oracles and restarts). */
  readonly backend: InMemoryStorageBackend;

  constructor(settings: InMemoryStorageProviderSettings = {}) {
    this.backend = settings.backend ?? new Map();
  }

  async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    storageKeySegments(key, 'conformance');
    if (options.ifAbsent === true && this.backend.has(key)) return { written: false };
    this.backend.set(key, Uint8Array.from(body));
    return { written: true };
  }

  /** Gathers the chunks (copied: a producer may reuse its buffer) and stores them once the body has ended. */
  async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    storageKeySegments(key, 'conformance');
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk));
    return this.put(key, Buffer.concat(chunks), options);
  }

  async get(key: string): Promise<Uint8Array | null> {
    storageKeySegments(key, 'conformance');
    const body = this.backend.get(key);
    return body === undefined ? null : Uint8Array.from(body);
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const body = await this.get(key);
    if (body === null) return null;
    // Chunked like a file read, so consumers meet more than one chunk.
    return (async function* () {
      for (let offset = 0; offset < body.byteLength; offset += 64 * 1024) yield body.subarray(offset, offset + 64 * 1024);
    })();
  }

  async head(key: string): Promise<StorageObjectMetadata | null> {
    storageKeySegments(key, 'conformance');
    const body = this.backend.get(key);
    return body === undefined ? null : { key, size: body.byteLength };
  }

  async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const prefix = options.prefix ?? '';
    const limit = options.limit ?? maximumListLimit;
    if (!Number.isInteger(limit) || limit < 1 || limit > maximumListLimit) {
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [conformance] list limit must be a whole number from 1 to ${maximumListLimit}, got ${limit}`);
    }
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const keys = [...this.backend.keys()].filter((key) => key.startsWith(prefix) && (after === undefined || compareBytes(key, after) > 0)).sort(compareBytes);
    const page = keys.slice(0, limit);
    // The cursor is the last key returned, so a page replays identically and a key written
    // meanwhile is neither skipped nor repeated.
    const cursor = keys.length > limit ? encodeCursor(page[page.length - 1]!) : null;
    return { keys: page, cursor };
  }

  async delete(key: string): Promise<void> {
    storageKeySegments(key, 'conformance');
    this.backend.delete(key);
  }
}

/** Builds an in-memory storage provider. */
export function createInMemoryStorageProvider(settings: InMemoryStorageProviderSettings = {}): InMemoryStorageProvider {
  return new InMemoryStorageProvider(settings);
}

function compareBytes(left: string, right: string): number {
  return Buffer.compare(Buffer.from(left, 'utf8'), Buffer.from(right, 'utf8'));
}

function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encodeCursor(key) !== cursor) {
    throw new CairnError('CAIRN_STORAGE_LIST_INVALID', '[cairn] [conformance] list cursor is not one this provider returned');
  }
  return key;
}
