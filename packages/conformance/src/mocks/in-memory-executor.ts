import type { ExecutionHandle, TaskEnvelope, ExecutionStatus, ExecutorV1 } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

/** The task body: resolves to the exit code; must stop soon after `signal` aborts. */
export type InMemoryTask = (task: TaskEnvelope, signal: AbortSignal) => Promise<number> | number;

/** One execution as the registry keeps it. */
export interface InMemoryExecution {
  status: ExecutionStatus;
  /** How many times the task body started (1 for a correct executor). */
  runs: number;
  readonly controller: AbortController;
}

/**
 * What survives a "restart" of the in-memory executor: give the same registry to a new instance
 * to simulate a process that comes back and re-attaches to its tasks through their handles.
 */
export interface InMemoryExecutorRegistry {
  readonly executions: Map<string, InMemoryExecution>;
}

/** Settings of `createInMemoryExecutor`. */
export interface InMemoryExecutorSettings {
  /** Runs a task; its resolved number is the exit code, a rejection is exit code 1. */
  readonly run: InMemoryTask;
  /** The persisted state; a new empty one when omitted. */
  readonly registry?: InMemoryExecutorRegistry;
}

const executorName = 'in-memory';

/**
 * ExecutorV1 that runs each task by calling a function in this process. Starts are idempotent per
 * execution id, handles are plain JSON naming only the execution id, and cancellation aborts the
 * task's signal.
 */
export class InMemoryExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = executorName;
  readonly capabilities = { cancel: true, pushesCompletions: true } as const;
  readonly registry: InMemoryExecutorRegistry;
  readonly #run: InMemoryTask;
  readonly #exitListeners = new Set<(executionId: string, status: ExecutionStatus) => void>();

  constructor(settings: InMemoryExecutorSettings) {
    this.#run = settings.run;
    this.registry = settings.registry ?? { executions: new Map() };
  }

  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const handle: ExecutionHandle = { executor: executorName, executionId: task.executionId };
    // Check-and-insert without an await in between: concurrent starts cannot both run the task.
    if (this.registry.executions.has(task.executionId)) return handle;
    const execution: InMemoryExecution = { status: { state: 'pending' }, runs: 0, controller: new AbortController() };
    this.registry.executions.set(task.executionId, execution);
    queueMicrotask(() => void this.#execute(task, execution));
    return handle;
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    this.#exitListeners.add(listener);
    return () => void this.#exitListeners.delete(listener);
  }

  #exited(executionId: string, execution: InMemoryExecution, status: ExecutionStatus): void {
    execution.status = status;
    for (const listener of this.#exitListeners) listener(executionId, { ...status });
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const execution = this.registry.executions.get(executionIdOf(handle));
    return execution === undefined ? { state: 'unknown' } : { ...execution.status };
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const execution = this.registry.executions.get(executionIdOf(handle));
    if (execution === undefined || execution.status.state === 'exited') return;
    if (execution.status.state === 'pending') this.#exited(executionIdOf(handle), execution, { state: 'exited', outcome: 'cancelled' });
    execution.controller.abort();
  }

  async #execute(task: TaskEnvelope, execution: InMemoryExecution): Promise<void> {
    if (execution.status.state !== 'pending') return; // cancelled before it started
    execution.runs += 1;
    execution.status = { state: 'running' };
    const { signal } = execution.controller;
    let exitCode: number;
    try {
      exitCode = await this.#run(task, signal);
    } catch {
      exitCode = 1;
    }
    this.#exited(
      task.executionId,
      execution,
      signal.aborted ? { state: 'exited', outcome: 'cancelled', exitCode } : { state: 'exited', outcome: exitCode === 0 ? 'succeeded' : 'failed', exitCode },
    );
  }
}

/** Builds an in-memory executor. */
export function createInMemoryExecutor(settings: InMemoryExecutorSettings): InMemoryExecutor {
  return new InMemoryExecutor(settings);
}

function executionIdOf(handle: unknown): string {
  const candidate = handle as Partial<ExecutionHandle> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    candidate.executor !== executorName ||
    typeof candidate.executionId !== 'string' ||
    candidate.executionId.length === 0
  ) {
    throw new CairnError('CAIRN_EXECUTOR_HANDLE_INVALID', `[cairn] [conformance] not an in-memory executor handle: ${JSON.stringify(handle)}`);
  }
  return candidate.executionId;
}
