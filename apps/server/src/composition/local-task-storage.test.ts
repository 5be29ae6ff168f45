// A local executor over S3 storage: its tasks run under supervisor processes, which cannot be
// handed the server's storage object, so the server tells them how to open the same bucket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CipherV1, Logger, StorageProviderV1 } from '@cairn/core';
import { createLocalStorageProvider } from '@cairn/local';
import { expect, test } from 'vitest';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { seamFactories } from './seam-factories.ts';

const executorWith = async (storageConfig: Record<string, unknown>, storage: StorageProviderV1) => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-local-task-storage-'));
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (fields) => warnings.push(fields) };
  try {
    const loaded = {
      config: { storage: storageConfig },
      paths: { executions: join(directory, 'executions'), work: join(directory, 'work'), networkTrust: [] },
    } as unknown as LoadedServerConfig;
    await seamFactories.executor.local({ kind: 'local', sandbox: 'none' } as never, {
      loaded,
      where: 'config.executor',
      logger,
      storage,
      cipher: {} as CipherV1,
      signingKey: { keyId: `sha256:${'a'.repeat(64)}`, algorithm: 'ed25519', publicKey: Buffer.alloc(44).toString('base64') },
      runtimes: { executor: {}, adapters: [], adapterSecrets: {} },
    });
    return warnings;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
};

test('over S3 storage the local executor gets taskStorage (the @cairn/s3 factory and the bucket settings): no task stays in the server process', async () => {
  const s3Shaped = { specificationVersion: 'v1', provider: 's3' } as unknown as StorageProviderV1;
  const warnings = await executorWith({ kind: 's3', bucket: 'cairn-bucket', prefix: 'cairn/', region: 'eu-west-1', forcePathStyle: false }, s3Shaped);
  expect(warnings.filter((fields) => fields['reason'] === 'local.executor.taskStorage')).toEqual([]);
  // The module it names is the one the supervisors import, and has the factory.
  const s3 = (await import(import.meta.resolve('@cairn/s3'))) as Record<string, unknown>;
  expect(typeof s3['createS3StorageProvider']).toBe('function');
});

test('over local storage no taskStorage is needed: supervisors reopen the directory', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-local-task-storage-root-'));
  try {
    const warnings = await executorWith({ kind: 'local' }, createLocalStorageProvider({ root: directory }));
    expect(warnings.filter((fields) => fields['reason'] === 'local.executor.taskStorage')).toEqual([]);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
