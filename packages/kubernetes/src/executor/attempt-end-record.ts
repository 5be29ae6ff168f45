import type { ExecutionStatus, StorageProviderV1 } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * Where the executor writes how an attempt ended whenever it deletes the attempt's pod: the pod
 * goes, and a restarted executor must still answer the same exit (an exited status never changes).
 * Two kinds: an end the executor makes itself (a cancel, an image that cannot be pulled, Pending
 * past the pending timeout), written before the pod is deleted, under which the worker's own result
 * record stays the first authority (a cancelled worker may still write one in its grace period);
 * and an exit already `answered` (the pod had ended, the answer read from the worker's record and
 * the pod), written before the ended pod is deleted, which is the answer itself and wins.
 */
export const attemptEndKey = (executionId: string): string => `task-ends/${executionId}.json`;

interface AttemptEnd {
  readonly executionId: string;
  readonly status: ExecutionStatus;
  /** The uid of the pod deleted: a start repeated after it answers a handle to that pod, and makes no other. */
  readonly uid: string;
  readonly answered?: true;
}

/** A stored end: its status, the deleted pod's uid, and whether it is the answer already given (then nothing else is read). */
export interface StoredAttemptEnd {
  readonly status: ExecutionStatus;
  readonly uid: string | undefined;
  readonly answered: boolean;
}

export async function writeAttemptEnd(
  storage: StorageProviderV1,
  executionId: string,
  status: ExecutionStatus,
  settingsPath: string,
  { uid, answered = false }: { uid: string; answered?: boolean },
): Promise<void> {
  const end: AttemptEnd = { executionId, status, uid, ...(answered ? { answered: true as const } : {}) };
  try {
    await storage.put(attemptEndKey(executionId), new TextEncoder().encode(JSON.stringify(end)), { contentType: 'application/json' });
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] how execution ${executionId} ended could not be stored (${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}); its pod is left as it is and the executor tries again.`,
      { path: `${settingsPath}.storage`, cause: error },
    );
  }
}

export async function readAttemptEnd(storage: StorageProviderV1, executionId: string, settingsPath: string): Promise<StoredAttemptEnd | undefined> {
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.get(attemptEndKey(executionId));
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] how execution ${executionId} ended could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      { path: `${settingsPath}.storage`, cause: error },
    );
  }
  if (bytes === null) return undefined;
  try {
    const end = JSON.parse(new TextDecoder().decode(bytes)) as Partial<AttemptEnd>;
    return end.executionId === executionId && end.status?.state === 'exited'
      ? { status: end.status, uid: typeof end.uid === 'string' ? end.uid : undefined, answered: end.answered === true }
      : undefined;
  } catch {
    return undefined;
  }
}
