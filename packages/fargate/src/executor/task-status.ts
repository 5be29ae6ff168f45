import type { Task } from '@aws-sdk/client-ecs';
import type { ExecutionStatus, ResultRecord } from '@cairn/core';
import { resultKey } from '@cairn/protocol';

/** lastStatus values before the container runs (ECS's task lifecycle). */
const pendingStates = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

/**
 * Where a task ECS describes is, before its result record is consulted: `pending` and `running`
 * as ECS says, `exited` only once STOPPED (DEACTIVATING, STOPPING and DEPROVISIONING still run the
 * container or its teardown: its record may not be written yet).
 */
export function taskState(task: Task): 'pending' | 'running' | 'stopping' | 'stopped' {
  const status = task.lastStatus ?? 'PROVISIONING';
  if (pendingStates.has(status)) return 'pending';
  if (status === 'RUNNING') return 'running';
  if (status === 'STOPPED') return 'stopped';
  return 'stopping';
}

/**
 * How a STOPPED task ended when its worker wrote no result record (the task never started, was
 * killed before it could write, ran out of memory): from ECS's stop code, the essential
 * container's exit code and the stop reasons. A stop Cairn asked for (UserInitiated) is
 * `cancelled`; everything else `failed`, saying why.
 */
export function stoppedTaskStatus(task: Task, containerName: string): ExecutionStatus {
  const container = task.containers?.find((candidate) => candidate.name === containerName) ?? task.containers?.[0];
  const exitCode = typeof container?.exitCode === 'number' ? container.exitCode : undefined;
  const reasons = [task.stopCode, task.stoppedReason, container?.reason].filter((part): part is string => typeof part === 'string' && part.length > 0);
  const cancelled = task.stopCode === 'UserInitiated';
  const why =
    task.stopCode === 'TaskFailedToStart'
      ? `the task failed to start: ${reasons.join('; ')}`
      : `the task stopped without a result record${exitCode !== undefined ? ` (exit code ${exitCode})` : ''}${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`;
  return { state: 'exited', outcome: cancelled ? 'cancelled' : 'failed', ...(exitCode !== undefined ? { exitCode } : {}), reason: why };
}

/**
 * A task's status from the result record its worker wrote: the worker's view is the exact one
 * (timed-out, cancelled). It carries the record as read, so the engine does not read it again
 * (ADR 0060; the engine checks it as one it reads).
 */
export function recordStatus(record: ResultRecord): ExecutionStatus {
  return {
    state: 'exited',
    outcome: record.outcome,
    ...(record.exitCode === null ? {} : { exitCode: record.exitCode }),
    resultKey: resultKey(record.executionId),
    result: record,
  };
}
