import type { AttemptFailure, MergeConflictPoint, RuntimeResult } from '@cairn/core';
import type { CairnError } from '@cairn/protocol';
import { redactText } from './runtime-environment.ts';

/** What the worker knows of an attempt once it has ended, to say why it did not succeed. */
export interface EndedAttempt {
  readonly failure?: CairnError;
  readonly runtime?: RuntimeResult;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  /** A limit of the host's (memory, disk) that ended the attempt, with its failure: code and message. */
  readonly limitReached?: CairnError;
  /** The item's wall-clock limit (the manifest's `limits.timeoutMs`), when the manifest was read. */
  readonly timeoutMs?: number;
  /** The end of the runtime's stderr, already redacted. */
  readonly stderrTail: string;
}

/**
 * Why the attempt did not succeed, or undefined when it did. Every way of not succeeding gets a
 * code: the worker's own refusal (a refused patch with its rule, a bad manifest, storage), a
 * cancel, the timeout, a limit of the host's (memory, disk), a signal, a non-zero exit. Messages
 * are redacted of every secret value.
 */
export function attemptFailureOf(ended: EndedAttempt, secrets: Readonly<Record<string, string>>): AttemptFailure | undefined {
  const exitCode = ended.runtime?.exitCode ?? null;
  const signal = ended.runtime?.signal ?? null;
  const how = { exitCode, signal, stderrTail: ended.stderrTail };
  const last = lastLine(ended.stderrTail);
  const ending = last === undefined ? '' : `; the last line of its stderr: ${JSON.stringify(last)}`;
  if (ended.cancelled) {
    return { code: 'CAIRN_ATTEMPT_CANCELLED', message: 'The attempt was stopped because its run or item was cancelled.', ...how };
  }
  if (ended.timedOut) {
    const limit = ended.timeoutMs === undefined ? 'its timeout' : `its timeout of ${ended.timeoutMs} ms`;
    return {
      code: 'CAIRN_ATTEMPT_TIMED_OUT',
      message: `The attempt ran past ${limit} (the item's timeout) and was stopped${ending}. Raise the item's timeout or make the work faster.`,
      ...how,
    };
  }
  if (ended.limitReached) {
    // What the runtime said last is often its own account of the limit (a failed write, an allocation).
    const lastSaid = last === undefined ? '' : ` The last line of its stderr: ${JSON.stringify(last)}.`;
    return { code: ended.limitReached.code, message: redactText(`${ended.limitReached.message}${lastSaid}`, secrets), ...how };
  }
  if (ended.failure) {
    const rule = ended.failure.details['rule'];
    const mergeConflict = mergeConflictOf(ended.failure);
    return {
      code: ended.failure.code,
      message: redactText(ended.failure.message, secrets),
      ...how,
      ...(typeof rule === 'string' && rule !== '' ? { rule } : {}),
      ...(mergeConflict ? { mergeConflict } : {}),
    };
  }
  if (exitCode === 0) return undefined;
  if (exitCode === null) {
    return {
      code: 'CAIRN_ATTEMPT_KILLED',
      message: `The runtime was ended by signal ${signal ?? 'unknown'}, which Cairn did not send (out of memory, a resource limit, a crash)${ending}.`,
      ...how,
    };
  }
  return { code: 'CAIRN_EXIT_NONZERO', message: `The runtime exited with code ${exitCode}${ending}.`, ...how };
}

/** Where a merge conflicted, from its CAIRN_MERGE_CONFLICT's details (see mergePatches): what a rerun needs. */
function mergeConflictOf(failure: CairnError): MergeConflictPoint | undefined {
  if (failure.code !== 'CAIRN_MERGE_CONFLICT') return undefined;
  const { from, position, merged } = failure.details;
  if (typeof from !== 'string' || typeof position !== 'number' || !Array.isArray(merged)) return undefined;
  return { from, position, merged: merged.filter((item): item is string => typeof item === 'string') };
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const last = lines.at(-1);
  return last === undefined ? undefined : last.length > 200 ? `${last.slice(0, 200)}…` : last;
}
