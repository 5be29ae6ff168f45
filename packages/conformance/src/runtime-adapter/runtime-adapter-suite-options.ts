import type { RuntimeAdapterV1, RuntimeSpec } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { RuntimeAdapterScenario } from './runtime-adapter-scenario.ts';

/**
 * Options of `describeRuntimeAdapter`. The suite itself is the oracle: it creates the workspace
 * and a sibling directory with `node:fs` and checks both after every run.
 */
export interface RuntimeAdapterSuiteOptions<Instance extends RuntimeAdapterV1 = RuntimeAdapterV1> extends SuiteOptions<Instance, never> {
  /** The runtime spec that makes this adapter act out `scenario`. */
  readonly scenario: (scenario: RuntimeAdapterScenario) => RuntimeSpec;
  /** How long an aborted run may take to resolve (default 3 000 ms). */
  readonly abortTimeoutMs?: number;
}
