import type { RuntimeAdapterV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { runtimeAdapterCases } from './runtime-adapter-cases.ts';
import type { RuntimeAdapterSuiteOptions } from './runtime-adapter-suite-options.ts';

/**
 * Registers the RuntimeAdapterV1 conformance suite: working directory, exit codes, output sinks,
 * abort, and no writes outside the workspace.
 */
export function describeRuntimeAdapter<Instance extends RuntimeAdapterV1>(options: RuntimeAdapterSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`.
  registerSuite('RuntimeAdapterV1', runtimeAdapterCases, options as unknown as RuntimeAdapterSuiteOptions);
}
