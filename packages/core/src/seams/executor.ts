import type { ExecutionHandle, ExecutionStatus, TaskEnvelope } from '../model/execution.ts';

export interface ExecutorCapabilities {
  /** `cancel` stops a running task. Without it, cancel only waits for the timeout to kill it. */
  readonly cancel: boolean;
  /**
   * The executor pushes completions through `onExit` (the engine is told at once). Without it
   * the engine learns of completions only by `inspect` on its reconcile loop.
   */
  readonly pushesCompletions: boolean;
  /**
   * How tasks are isolated (`bubblewrap`, `container`, `none`); the engine records it in each
   * dispatch manifest. Say `none` when they are not: the evidence must not imply a sandbox.
   */
  readonly isolation?: string;
  /**
   * The executor confines a task whose manifest's network is an allow-list to its attempt's egress
   * proxy, so that nothing else is reachable (ADR 0049). Without it the engine refuses such items
   * at submit (CAIRN_RUN_SPEC_INVALID at the item's `network`) and never dispatches one here.
   */
  readonly networkAllowLists?: boolean;
  /**
   * The executor starts a task only on a host with every label of `TaskEnvelope.labels` (runners,
   * ADR 0050). Without it the engine refuses an item with `runsOn` at submit.
   */
  readonly labels?: boolean;
}

/**
 * Starts a task somewhere (a bubblewrap process, an ECS Fargate task), inspects it, cancels it.
 *
 * Guarantees:
 * - `start` is idempotent per `executionId`: a second call with the same id (after a crash, a
 *   retry) returns a handle to the same task and never starts a second one.
 * - The handle is plain JSON and self-sufficient: a new executor instance in a new process,
 *   given only the persisted handle, can `inspect` and `cancel` the task (re-attach after a
 *   server restart).
 * - `inspect` never throws for a task the executor has forgotten: it answers `unknown`, and the
 *   engine counts the attempt as lost. Once `exited`, the answer never changes.
 * - `cancel` is idempotent and harmless for a finished or unknown task.
 *
 * Errors: CAIRN_EXECUTOR_HANDLE_INVALID for a handle another executor issued or a malformed one;
 * CAIRN_EXECUTOR_START_FAILED when the task could not be started; CAIRN_EXECUTOR_UNAVAILABLE when
 * the backend could not be reached. All as rejected promises.
 *
 * How to implement: derive your backend's idempotency token from `executionId` (ECS
 * `clientToken`, a pid file named after it), store in the handle what finds the task again, and
 * run `describeExecutor` from `@cairn/conformance` with a `restart` that builds a fresh instance.
 */
export interface ExecutorV1 {
  readonly specificationVersion: 'v1';
  /** Short name of the implementation; stamped into every handle it issues as `executor`. */
  readonly provider: string;
  readonly capabilities: ExecutorCapabilities;
  start(task: TaskEnvelope): Promise<ExecutionHandle>;
  inspect(handle: ExecutionHandle): Promise<ExecutionStatus>;
  cancel(handle: ExecutionHandle): Promise<void>;
  /**
   * Present exactly when `capabilities.pushesCompletions`: calls `listener` once for each task this
   * instance started that exits from then on, with the status `inspect` would answer (`unknown`, with
   * a reason, for one that died with the process running it). Delivery is best effort (a restart
   * loses it), so the engine still reconciles by `inspect`, less often. Returns a
   * function that unsubscribes the listener.
   */
  onExit?(listener: (executionId: string, status: ExecutionStatus) => void): () => void;
}
