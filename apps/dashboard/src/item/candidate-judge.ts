/** A judge's choice among a best-of-N item's passing candidates, and its reason, as far as the server says. */
export interface CandidateJudge {
  readonly attempt: number | null;
  readonly reason: string | null;
  /** Why its answer was refused (ADR 0053: the order then decides), when it was. */
  readonly refused: string | null;
}

/**
 * The judge's choice in an item's `candidates`, when the server's carries one (`judge`: an
 * advisory model's pick among the candidates the check passed, ADR 0053). Read leniently — the
 * attempt as `attempt` or `chose`, a `reason` when it is text, `refused` when its answer was refused
 * and the order decided (a `candidate.judge-refused` entry) — because servers without judges send
 * none and the field is newer than the page: without it the page shows the order's choice alone.
 */
export function judgeOf(candidates: unknown): CandidateJudge | null {
  const judge = (candidates as { readonly judge?: unknown } | null)?.judge;
  if (typeof judge !== 'object' || judge === null || Array.isArray(judge)) return null;
  const { attempt, chose, reason, refused } = judge as Record<string, unknown>;
  const picked = typeof attempt === 'number' ? attempt : typeof chose === 'number' ? chose : null;
  return { attempt: picked, reason: typeof reason === 'string' ? reason : null, refused: typeof refused === 'string' ? refused : null };
}
