import type { StorageProviderV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { storageProviderCases } from './storage-provider-cases.ts';
import type { StorageProviderSuiteOptions } from './storage-provider-suite-options.ts';

/**
 * Registers the StorageProviderV1 conformance suite: one vitest test per case of
 * `storageProviderCases`, each on a fresh, empty instance from `options.create`.
 *
 * @example
 * describeStorageProvider({
 *   name: 'file',
 *   create: () => createFileStorageProvider({ directory: mkdtempSync(...) }),
 *   oracle: (storage) => ({ readRaw: (key) => readFileOrNull(join(storage.directory, key)), writeRaw: ... }),
 *   cleanup: (storage) => rm(storage.directory, { recursive: true }),
 * });
 */
export function describeStorageProvider<Instance extends StorageProviderV1>(options: StorageProviderSuiteOptions<Instance>): void {
  // Widening is sound: every instance the suite hands to `oracle`, `cleanup` or `extend` is one
  // that `options.create` returned.
  registerSuite('StorageProviderV1', storageProviderCases, options as unknown as StorageProviderSuiteOptions);
}
