import type { StorageListPage, StorageObjectMetadata, StoragePutResult, StorageProviderV1 } from '@cairn/core';

/**
 * A storage that acknowledges every write and keeps nothing, for measuring the engine alone at
 * 100,000 items: the in-memory provider would count 100,000 signed manifests (about 90 MB) as the
 * engine's memory, and a file per key spends a third of the run in open(2). It is enough for a run
 * of an executor that writes no result records: during a run the engine only writes manifests and
 * reads result records (none here); it reads manifests back only to export a bundle.
 */
export function createDiscardingStorage(): StorageProviderV1 & { readonly bytesWritten: number } {
  let bytesWritten = 0;
  return {
    specificationVersion: 'v1',
    provider: 'bench-discarding',
    capabilities: { ifAbsent: true },
    get bytesWritten() {
      return bytesWritten;
    },
    // Manifest keys are digests of envelopes naming their execution: no two puts share one, so
    // `ifAbsent` always writes.
    async put(_key, body): Promise<StoragePutResult> {
      bytesWritten += body.byteLength;
      return { written: true };
    },
    async get() {
      return null;
    },
    async head(): Promise<StorageObjectMetadata | null> {
      return null;
    },
    async list(): Promise<StorageListPage> {
      return { keys: [], cursor: null };
    },
    async delete() {},
  };
}
