import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StorageListPage, StorageObjectMetadata, StoragePutResult, StorageProviderV1 } from '@cairn/core';

/**
 * A file per key under a directory, for benchmarks that must not hold every blob in memory (the
 * in-memory provider would count 100,000 manifests as the engine's memory). Single-process and
 * unchecked: the real directory provider is `@cairn/local`'s.
 */
export function createDirectoryStorage(root: string): StorageProviderV1 {
  const path = (key: string) => join(root, key);
  return {
    specificationVersion: 'v1',
    provider: 'bench-directory',
    capabilities: { ifAbsent: true },
    async put(key, body, options): Promise<StoragePutResult> {
      const target = path(key);
      if (options?.ifAbsent && existsSync(target)) return { written: false };
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(`${target}.tmp`, body);
      renameSync(`${target}.tmp`, target);
      return { written: true };
    },
    async get(key) {
      return existsSync(path(key)) ? new Uint8Array(readFileSync(path(key))) : null;
    },
    async head(key): Promise<StorageObjectMetadata | null> {
      return existsSync(path(key)) ? { key, size: statSync(path(key)).size } : null;
    },
    async list(): Promise<StorageListPage> {
      return { keys: [], cursor: null };
    },
    async delete(key) {
      rmSync(path(key), { force: true });
    },
  };
}
