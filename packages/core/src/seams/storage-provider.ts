/** Facts about a stored object. */
export interface StorageObjectMetadata {
  readonly key: string;
  /** Size in bytes. */
  readonly size: number;
  readonly contentType?: string;
}

export interface StoragePutOptions {
  /**
   * Write only when nothing is stored under the key. Atomic: of any number of concurrent
   * if-absent puts of one key, exactly one returns `{ written: true }`.
   */
  readonly ifAbsent?: boolean;
  readonly contentType?: string;
  /**
   * The put may resolve before its bytes reach stable storage (ADR 0024). Once it resolves, the
   * object is read back like any other, by this process and by any other, and it survives the
   * writing process being killed (`kill -9`); only a crash of the machine itself (a power loss, a
   * kernel panic) before the operating system writes it back may lose it: the key is then missing,
   * or its object is empty or cut short. Every other guarantee holds (atomic replace, `ifAbsent`).
   * For objects that can be written again, or whose loss a machine crash also loses the reason to
   * keep (the engine's manifests, named by dispatches committed without a flush of their own). A
   * provider whose every put is durable when it resolves (S3) ignores it.
   */
  readonly deferFlush?: boolean;
}

export interface StoragePutResult {
  /** False only when `ifAbsent` was set and the key already existed (nothing was changed). */
  readonly written: boolean;
}

export interface StorageListOptions {
  /** Only keys starting with this string (a plain prefix, not a folder: `a/b` matches `a/bc`). */
  readonly prefix?: string;
  /** Page size, 1..1000; default 1000. */
  readonly limit?: number;
  /** The `cursor` of the previous page. */
  readonly cursor?: string;
}

export interface StorageListPage {
  /** Keys in ascending order of their UTF-8 bytes. */
  readonly keys: readonly string[];
  /** Pass to the next call for more; null on the last page. */
  readonly cursor: string | null;
}

/** What a provider can do beyond the required surface. */
export interface StorageProviderCapabilities {
  /** `put` honours `ifAbsent` atomically (required for content addressing and the inbox). */
  readonly ifAbsent: true;
  /**
   * `getStream` exists: an object is read in chunks, never held whole (large snapshots and patches
   * served over HTTP). Without it, a host reads with `get`.
   */
  readonly stream?: boolean;
  /**
   * `putStream` exists: an object is written from chunks as they come, never held whole (a large
   * workspace snapshot uploaded over HTTP). Without it, a host gathers the bytes and calls `put`.
   */
  readonly putStream?: boolean;
  /**
   * `put` and `putStream` honour `deferFlush` (ADR 0024): a put with it may resolve before its bytes
   * are durable, and a later if-absent put of the same key without it, through the same provider
   * object, makes the object durable before it resolves (`{ written: false }`, ADR 0059). Without
   * it, every put is durable once it resolves and the option is ignored (S3).
   */
  readonly deferFlush?: boolean;
  /**
   * `listStrays` and `setStrayAside` exist: the provider reports entries in a folder that are not
   * objects it can name as keys (links, FIFOs, sockets, devices, names no key maps to) and moves
   * one aside without reading or following it. The inbox uses it so nothing dropped into it is
   * left in place silently. Without it, such entries are invisible, as before.
   */
  readonly strays?: boolean;
}

/** An entry of a folder that is not an object the provider can name as a key (see `listStrays`). */
export interface StorageStray {
  /** The entry's name as printable text: invalid UTF-8 bytes replaced, never a key. */
  readonly name: string;
  /** The name's raw bytes, exactly as stored. */
  readonly rawName: Uint8Array;
  /** `unnamed`: a plain file or folder whose name no key maps to (control characters, a backslash, not UTF-8). */
  readonly kind: 'symlink' | 'fifo' | 'socket' | 'device' | 'unnamed';
  /** Why it is not an object, in a sentence. */
  readonly reason: string;
}

/**
 * Blobs by key: run specs, workspace snapshots, manifests, patches, logs, results.
 *
 * Keys are relative `/`-separated paths of non-empty segments: no leading `/`, no `.` or `..`
 * segments, no backslashes or control characters, at most 1024 UTF-8 bytes; any other Unicode is
 * allowed. A bad key is refused with CAIRN_STORAGE_KEY_INVALID (as a rejected promise) before
 * any I/O.
 *
 * Guarantees:
 * - `put` replaces atomically: a reader sees the old or the new bytes, never a mix. Putting the
 *   same bytes again is harmless (idempotent).
 * - `get` and `head` return `null` for a missing key; they throw only when the provider fails
 *   (CAIRN_STORAGE_UNAVAILABLE).
 * - `list` pages in ascending key order; pages do not repeat or skip keys that existed for the
 *   whole listing. A bad limit or foreign cursor is CAIRN_STORAGE_LIST_INVALID.
 * - `delete` of a missing key succeeds (idempotent).
 * - Read-after-write: once `put` resolves, `get`, `head` and `list` see it.
 *
 * How to implement: map keys onto your store without escaping surprises (a directory provider
 * must make sure no key resolves outside its root), implement `ifAbsent` with the store's own
 * conditional write (O_EXCL, `If-None-Match: *`), and run `describeStorageProvider` from
 * `@cairn/conformance`.
 */
export interface StorageProviderV1 {
  readonly specificationVersion: 'v1';
  /** Short name of the implementation (`local-directory`, `s3`). */
  readonly provider: string;
  readonly capabilities: StorageProviderCapabilities;
  put(key: string, body: Uint8Array, options?: StoragePutOptions): Promise<StoragePutResult>;
  get(key: string): Promise<Uint8Array | null>;
  /**
   * The object's bytes in chunks, in order, or `null` for a missing key; present exactly when
   * `capabilities.stream` is true. Keys are checked as `get` checks them, before any I/O. A
   * provider that checks content against a content-addressed key raises CAIRN_DIGEST_MISMATCH
   * from the iterator before it yields the last chunk, so a consumer forwarding chunks as they
   * come never delivers the whole of an altered object (and must discard what it received).
   * Breaking out of the loop releases the object.
   */
  getStream?(key: string): Promise<AsyncIterable<Uint8Array> | null>;
  /**
   * Writes the object from `body`'s chunks, in order, without holding it whole; present exactly
   * when `capabilities.putStream` is true. Every guarantee of `put` holds: the key is checked
   * before `body` is read (CAIRN_STORAGE_KEY_INVALID); the object appears whole or not at all
   * (atomic replace); `ifAbsent` is atomic and answers `{ written: false }` when the key exists;
   * `deferFlush` as for `put`; a content-addressed key whose content does not match it is
   * CAIRN_DIGEST_MISMATCH with nothing stored. `body` is read to its end in every case (an
   * if-absent put that finds the key too) before the object is published, so a producer may
   * check what it handed on (a digest, a length) and throw from its last step: when `body`
   * throws, nothing is stored (an object already under the key stays as it was) and `putStream`
   * rejects with that error. A failure of the store is CAIRN_STORAGE_UNAVAILABLE. A chunk may be
   * reused by the producer once the next one is asked for.
   */
  putStream?(key: string, body: AsyncIterable<Uint8Array>, options?: StoragePutOptions): Promise<StoragePutResult>;
  head(key: string): Promise<StorageObjectMetadata | null>;
  list(options?: StorageListOptions): Promise<StorageListPage>;
  delete(key: string): Promise<void>;
  /**
   * The strays directly in the folder `prefix` (ending in `/`; not in its sub-folders), present
   * exactly when `capabilities.strays` is true. The provider's own files are never strays. Never
   * reads, opens or follows an entry.
   */
  listStrays?(prefix: string): Promise<readonly StorageStray[]>;
  /**
   * Moves a stray listed under `prefix` to `key` (replacing what is there) by renaming it: the
   * entry itself, never what a link points at, never read. A stray gone since the listing is not
   * an error (it resolves quietly).
   */
  setStrayAside?(prefix: string, stray: StorageStray, key: string): Promise<void>;
}
