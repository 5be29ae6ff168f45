/**
 * An independent view of what an executor actually ran: a process table, the ECS task list, a
 * marker file each task appends to. The suite counts runs through it to prove idempotent starts.
 */
export interface ExecutorOracle {
  /** How many times the task body of `executionId` has started, across every instance and restart. */
  runCount(executionId: string): Promise<number> | number;
}
