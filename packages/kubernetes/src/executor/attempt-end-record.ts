import type { ExecutionStatus, StorageProviderV1 } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * Where the executor writes how an attempt ended when it ends the attempt itself by deleting its pod
 * (a cancel, an image that cannot be pulled, Pending past the pending timeout): the pod goes, and a
 * restarted executor must still answer the same exit (an exited status never changes). The worker's
 * result record, when it wrote one, stays the first authority.
 */
export const attemptEndKey = (executionId: string): string => `task-ends/${executionId}.json`;

interface AttemptEnd {
  readonly executionId: string;
  readonly status: ExecutionStatus;
}

export async function writeAttemptEnd(storage: StorageProviderV1, executionId: string, status: ExecutionStatus): Promise<void> {
  const end: AttemptEnd = { executionId, status };
  try {
    await storage.put(attemptEndKey(executionId), new TextEncoder().encode(JSON.stringify(end)), { contentType: 'application/json' });
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] how execution ${executionId} ended could not be stored (${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}); its pod is left as it is and the executor tries again.`,
      { path: 'kubernetes.storage', cause: error },
    );
  }
}

export async function readAttemptEnd(storage: StorageProviderV1, executionId: string): Promise<ExecutionStatus | undefined> {
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.get(attemptEndKey(executionId));
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] how execution ${executionId} ended could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      { path: 'kubernetes.storage', cause: error },
    );
  }
  if (bytes === null) return undefined;
  try {
    const end = JSON.parse(new TextDecoder().decode(bytes)) as Partial<AttemptEnd>;
    return end.executionId === executionId && end.status?.state === 'exited' ? end.status : undefined;
  } catch {
    return undefined;
  }
}
