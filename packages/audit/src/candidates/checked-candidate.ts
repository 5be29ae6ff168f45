import type { AuditEntry, JsonObject } from '@cairn/core';
import type { CheckedCandidate } from './rank-candidates.ts';

/** A `candidate.checked` entry's check, as the entry records it (never the check's output). */
export interface RecordedCheck {
  readonly passed: boolean;
  readonly exitCode: number | null;
  readonly score: number | null;
}

/** A candidate as its `candidate.checked` entry records it, with the entry's outcome and check. */
export interface RecordedCandidate extends CheckedCandidate {
  readonly itemId: string;
  readonly round: number;
  readonly outcome: string;
  readonly check: RecordedCheck | null;
}

/**
 * Reads a `candidate.checked` entry (ADR 0053) as `rankCandidates` ranks it: one reading for the
 * engine that decides a round and the verifier that re-checks it. A candidate passed only when its
 * attempt succeeded, left a patch and its check passed, whatever else the entry says.
 */
export function recordedCandidateOf(entry: AuditEntry): RecordedCandidate {
  const data = entry.data;
  const rawCheck = data['check'];
  const check: RecordedCheck | null =
    typeof rawCheck === 'object' && rawCheck !== null && !Array.isArray(rawCheck)
      ? {
          passed: (rawCheck as JsonObject)['passed'] === true,
          exitCode: typeof (rawCheck as JsonObject)['exitCode'] === 'number' ? ((rawCheck as JsonObject)['exitCode'] as number) : null,
          score: typeof (rawCheck as JsonObject)['score'] === 'number' ? ((rawCheck as JsonObject)['score'] as number) : null,
        }
      : null;
  const outcome = typeof data['outcome'] === 'string' ? data['outcome'] : '';
  const patch = typeof data['patch'] === 'string' ? data['patch'] : null;
  return {
    itemId: String(data['itemId']),
    round: Number(data['round']),
    attempt: Number(data['attempt']),
    candidate: Number(data['candidate']),
    passed: check?.passed === true && outcome === 'succeeded' && patch !== null,
    score: check?.score ?? null,
    patchBytes: typeof data['patchBytes'] === 'number' ? data['patchBytes'] : 0,
    seq: entry.seq,
    outcome,
    check,
  };
}
