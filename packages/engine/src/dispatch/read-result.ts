import type {
  AttemptEnvironment,
  AttemptFailure,
  CandidateCheckResult,
  Digest,
  EgressSummary,
  LimitHit,
  PatchStats,
  StorageProviderV1,
  StorageWait,
} from '@cairn/core';
import { blobKey, isCairnError, parsePayload, recordRetryWaits, resultKey, resultRecordSchema, type RetryWait } from '@cairn/protocol';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';
import { judgeStdoutTailBytes } from './candidate-judge.ts';

/** What the worker reported for an attempt: its result, a rejected one (and why), or nothing. */
export type ResultRead =
  | {
      readonly artifacts: Record<string, string>;
      readonly exitCode: number | null;
      readonly failure?: AttemptFailure;
      /** Disk limits that refused a write during the attempt, whatever its outcome (for its history). */
      readonly limitsHit?: readonly LimitHit[];
      /** What an allow-listed attempt's egress proxy admitted and refused (for its history). */
      readonly egress?: EgressSummary;
      /**
       * Storage operations that waited for an outage to end: the worker's (its result record's) and
       * the engine's own as it read the result, for the attempt's history.
       */
      readonly storageWaits?: readonly (StorageWait & { readonly by: 'worker' | 'engine' })[];
      /** The `output` artifact's bytes, when asked for (a planner's fragment) and there is one. */
      readonly output?: Uint8Array;
      /** A candidate's check over its patch, and the patch's size (ADR 0053). */
      readonly check?: CandidateCheckResult;
      readonly patchStats?: PatchStats;
      /** The warm environment the attempt ran over (ADR 0056): whether it built the layer, and its setup time. */
      readonly environment?: AttemptEnvironment;
      /** The end of its stdout, when asked for: a best-of-N judge's answer is its last line (ADR 0053). */
      readonly stdoutTail?: string;
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
  /** Asked of every result: whether the end of its stdout is wanted too (a judge's is). */
  wantsStdoutTail: () => boolean = () => false,
  /**
   * What the executor's exit status carried (`ExecutionStatus.result`): the stored record, taken
   * instead of reading its key again when it is valid and names this execution; `null`, no record
   * (nothing is read).
   */
  carried?: unknown,
): Promise<ResultRead> {
  const waits: RetryWait[] = [];
  const read = await recordRetryWaits(waits, () => readStoredResult(storage, attempt, wantsOutput, wantsStdoutTail, carried));
  if (read === undefined || 'rejected' in read) return read;
  const engine = waits
    .filter((wait) => wait.waitedFor === 'storage')
    .map(({ waitedMs, retries, reason }) => ({ by: 'engine' as const, waitedMs, retries, reason }));
  const storageWaits = [...(read.storageWaits ?? []), ...engine];
  return storageWaits.length === 0 ? read : { ...read, storageWaits };
}

async function readStoredResult(
  storage: StorageProviderV1,
  attempt: Pick<AttemptRecord, 'executionId' | 'fencingToken' | 'manifestDigest'>,
  wantsOutput: () => boolean,
  wantsStdoutTail: () => boolean,
  carried: unknown,
): Promise<ResultRead> {
  if (carried === null) return undefined;
  let record = carriedRecord(carried, attempt.executionId);
  if (record === undefined) {
    const bytes = await storage.get(resultKey(attempt.executionId));
    if (bytes === null) return undefined;
    try {
      record = parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), `result record ${resultKey(attempt.executionId)}`);
    } catch (error) {
      return { rejected: `the result record is not valid: ${isCairnError(error) ? error.message : (error as Error).message}` };
    }
  }
  if (record.fencingToken !== attempt.fencingToken || record.manifestDigest !== attempt.manifestDigest)
    return { rejected: 'the result names another fencing token or manifest' };
  const outputDigest = record.artifacts['output'] !== undefined && wantsOutput() ? record.artifacts['output'] : undefined;
  const output = outputDigest === undefined ? null : await storage.get(blobKey(outputDigest as Digest));
  const stdoutDigest = record.artifacts['stdout'] !== undefined && wantsStdoutTail() ? record.artifacts['stdout'] : undefined;
  const stdout = stdoutDigest === undefined ? null : await storage.get(blobKey(stdoutDigest as Digest));
  return {
    artifacts: { ...record.artifacts },
    exitCode: record.exitCode,
    ...(record.failure ? { failure: record.failure as AttemptFailure } : {}),
    ...(record.limitsHit ? { limitsHit: record.limitsHit } : {}),
    ...(record.egress ? { egress: record.egress } : {}),
    ...(record.storageWaits ? { storageWaits: record.storageWaits.map((wait) => ({ by: 'worker' as const, ...wait })) } : {}),
    ...(output === null ? {} : { output }),
    ...(stdout === null ? {} : { stdoutTail: new TextDecoder().decode(stdout.subarray(Math.max(0, stdout.byteLength - judgeStdoutTailBytes))) }),
    ...(record.check ? { check: record.check } : {}),
    ...(record.patchStats ? { patchStats: record.patchStats } : {}),
    ...(record.environment ? { environment: { ...record.environment, digest: record.environment.digest as Digest } } : {}),
  };
}

/**
 * The record an exit status carried, when it is a valid result record of this execution; else
 * undefined, and the stored one is read (which decides: an executor's copy never rejects a result).
 */
function carriedRecord(carried: unknown, executionId: string): ResultRecordPayload | undefined {
  if (carried === undefined) return undefined;
  const parsed = resultRecordSchema.safeParse(carried);
  return parsed.success && parsed.data.executionId === executionId ? parsed.data : undefined;
}

type ResultRecordPayload = ReturnType<typeof resultRecordSchema.parse>;
