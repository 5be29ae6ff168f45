import type { ExecutionHandle, ExecutionStatus, ExecutorV1, TaskEnvelope } from '@cairn/core';

/**
 * Finishes every task the moment it starts, and says so through onExit: what is left to measure
 * is the engine. Records when each execution started and exited, for hop latencies.
 */
export class InstantExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'instant';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  readonly startedAt = new Map<string, number>();
  readonly exitedAt = new Map<string, number>();
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();
  readonly #status: ExecutionStatus;
  readonly #record: boolean;

  /**
   * Without `record`, nothing is kept per execution (for runs of 100,000 items measuring memory).
   * With `saysNoResult`, each exit says its task wrote no result record (`result: null`, true:
   * no worker runs), so the engine reads none, as it reads none from an executor that carries
   * its worker's record.
   */
  constructor(options: { readonly record?: boolean; readonly saysNoResult?: boolean } = {}) {
    this.#record = options.record ?? true;
    this.#status = { state: 'exited', outcome: 'succeeded', exitCode: 0, ...(options.saysNoResult ? { result: null } : {}) };
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    if (!this.#record || !this.startedAt.has(task.executionId)) {
      if (this.#record) this.startedAt.set(task.executionId, performance.now());
      queueMicrotask(() => {
        if (this.#record) this.exitedAt.set(task.executionId, performance.now());
        for (const listener of this.#listeners) listener(task.executionId, this.#status);
      });
    }
    return { executor: this.provider, executionId: task.executionId };
  }

  // Without records every execution counts as started: nothing is kept to tell otherwise.
  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    return !this.#record || this.startedAt.has(handle.executionId) ? this.#status : { state: 'unknown' };
  }

  async cancel(): Promise<void> {}

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}
