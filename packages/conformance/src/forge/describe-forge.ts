import type { ForgeV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { forgeCases } from './forge-cases.ts';
import type { ForgeSuiteOptions } from './forge-suite-options.ts';

/**
 * Registers the ForgeV1 conformance suite: one commit on the base with the Cairn trailers,
 * idempotent delivery by branch name, leased replacement, refusals with their codes, and (when
 * declared) change requests opened once per branch, commented and read back.
 */
export function describeForge<Instance extends ForgeV1>(options: ForgeSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('ForgeV1', forgeCases, options as unknown as ForgeSuiteOptions);
}
