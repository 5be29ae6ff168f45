import type { AttemptFailure, Digest, LimitHit, StorageProviderV1 } from '@cairn/core';
import { blobKey, isCairnError, parsePayload, resultKey, resultRecordSchema } from '@cairn/protocol';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';

/** What the worker reported for an attempt: its result, a rejected one (and why), or nothing. */
export type ResultRead =
  | {
      readonly artifacts: Record<string, string>;
      readonly exitCode: number | null;
      readonly failure?: AttemptFailure;
      /** Disk limits that refused a write during the attempt, whatever its outcome (for its history). */
      readonly limitsHit?: readonly LimitHit[];
      /** The `output` artifact's bytes, when asked for (a planner's fragment) and there is one. */
      readonly output?: Uint8Array;
    }
  | { readonly rejected: string }
  | undefined;

/**
 * The worker's result record, when it wrote one. One that is malformed or not for this very
 * attempt (another fencing token or manifest) is rejected — recorded, and never trusted.
 */
export async function readResult(
  storage: StorageProviderV1,
  attempt: Pick<AttemptRecord, 'executionId' | 'fencingToken' | 'manifestDigest'>,
  /** Asked only of a result with an `output`: whether its bytes are wanted too (a planner's are). */
  wantsOutput: () => boolean = () => false,
): Promise<ResultRead> {
  const bytes = await storage.get(resultKey(attempt.executionId));
  if (bytes === null) return undefined;
  let record;
  try {
    record = parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), `result record ${resultKey(attempt.executionId)}`);
  } catch (error) {
    return { rejected: `the result record is not valid: ${isCairnError(error) ? error.message : (error as Error).message}` };
  }
  if (record.fencingToken !== attempt.fencingToken || record.manifestDigest !== attempt.manifestDigest)
    return { rejected: 'the result names another fencing token or manifest' };
  const outputDigest = record.artifacts['output'] !== undefined && wantsOutput() ? record.artifacts['output'] : undefined;
  const output = outputDigest === undefined ? null : await storage.get(blobKey(outputDigest as Digest));
  return {
    artifacts: { ...record.artifacts },
    exitCode: record.exitCode,
    ...(record.failure ? { failure: record.failure as AttemptFailure } : {}),
    ...(record.limitsHit ? { limitsHit: record.limitsHit } : {}),
    ...(output === null ? {} : { output }),
  };
}
