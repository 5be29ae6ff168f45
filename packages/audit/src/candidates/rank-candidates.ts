import type { CandidateOrder } from '@cairn/core';

/** One candidate of a round as its `candidate.checked` entry records it (ADR 0053). */
export interface CheckedCandidate {
  /** Its attempt number, which names it in the log. */
  readonly attempt: number;
  /** Its place in the round, from 1: candidate k ran `vary[k-1]`. */
  readonly candidate: number;
  /** Whether its check passed: only a candidate that succeeded, left a patch and passed may win. */
  readonly passed: boolean;
  /** The number on the check's last stdout line, when there was one. */
  readonly score: number | null;
  /** Bytes of its patch. */
  readonly patchBytes: number;
  /** The global sequence number of its `candidate.checked` entry: the log's order of the checks. */
  readonly seq: number;
}

/** How a round is decided: the item's `select.order` and `select.stopOnFirstPass`, as its spec says. */
export interface CandidateRanking {
  readonly order: CandidateOrder;
  readonly stopOnFirstPass?: boolean | undefined;
  /**
   * The attempt a judge chose (ADR 0053), when one answered: it goes first if it passed, the others
   * after it in the order. A judge advises among those the check passed and no more: a choice of a
   * candidate that did not pass, or of none of the round, changes nothing and the order decides.
   */
  readonly judge?: number | undefined;
}

/**
 * The passing candidates of a round, best first: the winner is the first, none passed when empty.
 * One function for the engine that chooses and the verifier that re-checks the choice, so the two
 * cannot read the declared order differently. `score`: the highest first, those without a score
 * after all that have one; `smallest-diff`: the fewest patch bytes; `first` (and any order under
 * `stopOnFirstPass`, where the first pass wins at once): the earliest check in the log. Ties fall
 * to the smaller diff, then the lower candidate, so the order is total: the same entries always
 * give the same winner. A judge's valid choice (`ranking.judge`) comes first; an invalid one is ignored.
 */
export function rankCandidates(candidates: readonly CheckedCandidate[], ranking: CandidateRanking): CheckedCandidate[] {
  const order: CandidateOrder = ranking.stopOnFirstPass === true ? 'first' : ranking.order;
  const tieBreak = (a: CheckedCandidate, b: CheckedCandidate) => a.patchBytes - b.patchBytes || a.candidate - b.candidate;
  const compare: (a: CheckedCandidate, b: CheckedCandidate) => number =
    order === 'first'
      ? (a, b) => a.seq - b.seq
      : order === 'score'
        ? (a, b) => {
            if (a.score === null || b.score === null) return a.score === b.score ? tieBreak(a, b) : a.score === null ? 1 : -1;
            return b.score - a.score || tieBreak(a, b);
          }
        : tieBreak;
  const ranked = candidates.filter((candidate) => candidate.passed).sort(compare);
  const chosen = ranked.findIndex((candidate) => candidate.attempt === ranking.judge);
  return chosen <= 0 ? ranked : [ranked[chosen]!, ...ranked.slice(0, chosen), ...ranked.slice(chosen + 1)];
}
