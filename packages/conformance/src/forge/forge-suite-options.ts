import type { ForgeV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { ForgeOracle } from './forge-oracle.ts';

/** Options of `describeForge`; `create` must return a forge over an empty repository of its own. */
export interface ForgeSuiteOptions<Instance extends ForgeV1 = ForgeV1> extends SuiteOptions<Instance, ForgeOracle> {
  /**
   * Puts a commit with no parent and exactly `files` (path to UTF-8 text) into the instance's
   * repository, not through the forge (as the user's own history is there before any delivery),
   * and answers its full id. Deliveries are made on it.
   */
  readonly createBase: (instance: Instance, files: Readonly<Record<string, string>>) => Promise<string>;
}
