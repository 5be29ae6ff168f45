import type { TaskEnvelope, ExecutorV1 } from '@cairn/core';
import type { SuiteOptions } from '../harness/suite-options.ts';
import type { ExecutorOracle } from './executor-oracle.ts';
import type { ExecutorTaskBehaviour } from './executor-task-behaviour.ts';

/** Options of `describeExecutor`. */
export interface ExecutorSuiteOptions<Instance extends ExecutorV1 = ExecutorV1> extends SuiteOptions<Instance, ExecutorOracle> {
  /** Builds the TaskEnvelope of a task that behaves as asked, under the given execution id. */
  readonly task: (behaviour: ExecutorTaskBehaviour, executionId: string) => TaskEnvelope;
  /**
   * Simulates a process restart: a NEW instance over the same persisted state as `instance`
   * (the same state directory, cluster or registry), sharing nothing in memory with it. The
   * suite hands it only a JSON copy of a handle. Cleaned up like instances from `create`.
   */
  readonly restart: (instance: Instance) => Promise<Instance> | Instance;
  /** How long a task may take to start or end before a case fails (default 5 000 ms). */
  readonly settleTimeoutMs?: number;
  /** Delay between two `inspect` calls while waiting (default 20 ms). */
  readonly pollIntervalMs?: number;
}
