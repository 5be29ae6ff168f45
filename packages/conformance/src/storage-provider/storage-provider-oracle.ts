/**
 * An independent view of a storage backend: the directory read with `node:fs`, the bucket read
 * with a raw S3 client. It must not go through the implementation under test, or a case would
 * only prove that the implementation agrees with itself.
 */
export interface StorageProviderOracle {
  /** The stored bytes of `key` exactly as the backend holds them, or `null` when absent. */
  readRaw(key: string): Promise<Uint8Array | null> | Uint8Array | null;
  /** Stores `body` under `key` behind the implementation's back. */
  writeRaw(key: string, body: Uint8Array): Promise<void> | void;
}
