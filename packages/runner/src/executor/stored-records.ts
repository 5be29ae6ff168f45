import type { ExecutionStatus, ResultRecord, StorageProviderV1 } from '@cairn/core';
import { CairnError, isCairnError, manifestKey, resultKey } from '@cairn/protocol';

/** Reads a key of the engine's storage; a storage that cannot be read makes the executor unavailable for now. */
async function read(storage: StorageProviderV1, key: string, what: string): Promise<unknown> {
  let bytes: Uint8Array | null;
  try {
    bytes = await storage.get(key);
  } catch (error) {
    throw new CairnError(
      'CAIRN_EXECUTOR_UNAVAILABLE',
      `[cairn] [runner] ${what} could not be read: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
      { path: 'runner.executor.storage', cause: error },
    );
  }
  if (bytes === null) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The status of an execution from the result record its worker wrote, when there is one for it: how
 * a book that did not see the exit (a server restart in between) still answers `exited`.
 */
export async function recordedStatus(storage: StorageProviderV1, executionId: string): Promise<ExecutionStatus | undefined> {
  const record = (await read(storage, resultKey(executionId), `the result record of execution ${executionId}`)) as Record<string, unknown> | undefined;
  if (typeof record !== 'object' || record === null || record['executionId'] !== executionId) return undefined;
  const outcome = record['outcome'];
  if (outcome !== 'succeeded' && outcome !== 'failed' && outcome !== 'cancelled' && outcome !== 'timed-out') return undefined;
  const exitCode = record['exitCode'];
  return { state: 'exited', outcome, ...(typeof exitCode === 'number' ? { exitCode } : {}), resultKey: resultKey(executionId) };
}

/**
 * The result record of `executionId` in `bytes` (what the server stored for its runner), or
 * undefined for bytes that are not a JSON object naming it. Not checked further: the engine checks
 * a carried record as one it reads, and reads the key when the carried one is not valid (ADR 0060).
 */
export function resultRecordOf(bytes: Uint8Array, executionId: string): ResultRecord | undefined {
  let record: unknown;
  try {
    record = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
  return typeof record === 'object' && record !== null && (record as Record<string, unknown>)['executionId'] === executionId
    ? (record as ResultRecord)
    : undefined;
}

/**
 * Whether the stored manifest `manifestDigest` names `executionId`: the engine dispatched this
 * execution, so a runner may hold it. Read without verifying the signature: it only decides whether
 * to wait for a runner to re-adopt the handle, never what runs.
 */
export async function manifestNames(storage: StorageProviderV1, manifestDigest: string, executionId: string): Promise<boolean> {
  const stored = (await read(storage, manifestKey(manifestDigest), `the manifest ${manifestDigest}`)) as { payload?: unknown; manifest?: unknown } | undefined;
  const claimed = stored?.manifest ?? stored?.payload;
  if (typeof claimed !== 'string') return false;
  try {
    const manifest = JSON.parse(Buffer.from(claimed, 'base64').toString('utf8')) as { executionId?: unknown } | null;
    return manifest?.executionId === executionId;
  } catch {
    return false;
  }
}
