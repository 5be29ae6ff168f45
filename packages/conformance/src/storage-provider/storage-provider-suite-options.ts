import type { StorageProviderV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { StorageProviderOracle } from './storage-provider-oracle.ts';

/**
 * Options of `describeStorageProvider`. `create` must return an empty store (its own directory
 * or key prefix): list cases count every key they see. `Instance` is the concrete class, so that
 * `oracle` and `cleanup` can reach its directory or client.
 */
export type StorageProviderSuiteOptions<Instance extends StorageProviderV1 = StorageProviderV1> = SuiteOptions<Instance, StorageProviderOracle>;
