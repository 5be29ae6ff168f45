// An executor for runs that grow: a planner's task (or a list producer's) ends at once with the
// output it was given, and every other task runs until it is cancelled, so what is measured is the
// engine (and the server) adding the items.
import type { ExecutionHandle, ExecutionStatus, ExecutorV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { blobKey, resultKey, sha256Digest } from '@cairn/protocol';

/**
 * Ends the task of an item that `outputOf` gives an output for at once, leaving what a worker
 * leaves (its output and a result record), and starts every other task without ending it until it
 * is cancelled. `storage` is asked for at each start: a server builds its storage after its
 * executors are given.
 */
export class PlannerExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'planner';
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  /** When the last planner's (or producer's) task ended (its exit pushed). */
  endedAt = 0;
  readonly #storage: () => StorageProviderV1;
  readonly #outputOf: (itemId: string) => Uint8Array | undefined;
  readonly #listeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(storage: () => StorageProviderV1, outputOf: (itemId: string) => Uint8Array | undefined) {
    this.#storage = storage;
    this.#outputOf = outputOf;
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    // `run/item/attempt`, where an emitted item's id has a slash of its own (`plan/task-1`).
    const parts = task.executionId.split('/');
    const runId = parts[0];
    const itemId = parts.slice(1, -1).join('/');
    const output = this.#outputOf(itemId);
    if (output !== undefined) {
      const empty = new Uint8Array();
      const storage = this.#storage();
      await storage.put(blobKey(sha256Digest(output)), output);
      const now = new Date().toISOString();
      const record = {
        version: 'cairn.result/v1',
        runId,
        itemId,
        attempt: 1,
        fencingToken: 1,
        executionId: task.executionId,
        manifestDigest: task.manifestDigest,
        outcome: 'succeeded',
        exitCode: 0,
        startedAt: now,
        finishedAt: now,
        artifacts: { stdout: sha256Digest(empty), stderr: sha256Digest(empty), output: sha256Digest(output) },
      };
      await storage.put(resultKey(task.executionId), new TextEncoder().encode(JSON.stringify(record)));
      queueMicrotask(() => {
        this.endedAt = performance.now();
        for (const listener of this.#listeners) listener(task.executionId, { state: 'exited', outcome: 'succeeded', exitCode: 0 });
      });
    }
    return { executor: this.provider, executionId: task.executionId };
  }

  async inspect(): Promise<ExecutionStatus> {
    return { state: 'running' };
  }

  // A cancelled task ends (its exit pushed), freeing its task slot.
  async cancel(handle: ExecutionHandle): Promise<void> {
    queueMicrotask(() => {
      for (const listener of this.#listeners) listener(handle.executionId, { state: 'exited', outcome: 'cancelled', exitCode: 130 });
    });
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }
}
