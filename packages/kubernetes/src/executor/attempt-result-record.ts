import type { ExecutionStatus, ResultRecord, StorageProviderV1 } from '@cairn/core';
import { CairnError, isCairnError, resultKey } from '@cairn/protocol';

/** The execution's result record, when its worker wrote one for it; storage that cannot be read makes the executor unavailable for now. */
export async function readResultRecord(storage: StorageProviderV1, executionId: string, storageOption: string): Promise<ResultRecord | undefined> {
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.get(resultKey(executionId));
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [kubernetes] the result record of execution ${executionId} could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      { path: storageOption, cause: error },
    );
  }
  if (bytes === null) return undefined;
  try {
    const record = JSON.parse(new TextDecoder().decode(bytes)) as ResultRecord;
    return record.executionId === executionId ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A status from the result record the worker wrote: the worker's view is the exact one (timed-out,
 * cancelled). It carries the record as read, so the engine does not read it again (ADR 0060; the
 * engine checks it as one it reads).
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
