import type { ExecutorV1 } from '@cairn/core';
import { registerSuite } from '../harness/register-suite.ts';
import { executorCases } from './executor-cases.ts';
import type { ExecutorSuiteOptions } from './executor-suite-options.ts';

/**
 * Registers the ExecutorV1 conformance suite: outcomes, idempotent starts, cancellation, handles
 * that survive a restart (`options.restart`) and refusal of malformed handles.
 */
export function describeExecutor<Instance extends ExecutorV1>(options: ExecutorSuiteOptions<Instance>): void {
  // Widening is sound: every instance handed back to the options came from `options.create`
  // or `options.restart`.
  registerSuite('ExecutorV1', executorCases, options as unknown as ExecutorSuiteOptions);
}
