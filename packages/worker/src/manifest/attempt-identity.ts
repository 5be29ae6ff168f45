import type { DispatchManifest, ResultRecord } from '@cairn/core';

/** The fields that name an attempt in its result record. */
export type AttemptIdentity = Pick<ResultRecord, 'runId' | 'itemId' | 'attempt' | 'fencingToken' | 'executionId'>;

/**
 * Who a result record is about. From the verified manifest when there is one; otherwise (a
 * manifest that is missing, altered or for another execution) from the execution id
 * (`<runId>/<itemId>/<attempt>`), with the fencing token the unverified payload claims when it
 * names the same execution, else the attempt number (the engine rejects a record with a wrong
 * token, so a false claim only loses the report). Undefined when the id cannot be read either.
 */
export function attemptIdentity(
  executionId: string,
  manifest: DispatchManifest | undefined,
  unverified?: Partial<DispatchManifest>,
): AttemptIdentity | undefined {
  if (manifest) return { runId: manifest.runId, itemId: manifest.itemId, attempt: manifest.attempt, fencingToken: manifest.fencingToken, executionId };
  const match = /^(.+)\/([^/]+)\/([1-9]\d{0,8})$/.exec(executionId);
  if (!match) return undefined;
  const [, runId, itemId, attemptText] = match as unknown as [string, string, string, string];
  const attempt = Number(attemptText);
  const claimed =
    unverified?.executionId === executionId && Number.isSafeInteger(unverified.fencingToken) && unverified.fencingToken! >= 0
      ? unverified.fencingToken!
      : attempt;
  return { runId, itemId, attempt, fencingToken: claimed, executionId };
}
