import type { ItemCandidatesView } from '@cairn/client';

/** A best-of-N item's candidates as `GET /v1/runs/{runId}/items` gives them. */
export type CandidatesOfItem = ItemCandidatesView;

/** The item's `candidates`, when the server gave it a well-formed one. */
export function candidatesOf(item: { readonly candidates?: unknown }): CandidatesOfItem | undefined {
  const value = item.candidates as Partial<CandidatesOfItem> | undefined;
  return typeof value === 'object' && value !== null && Array.isArray(value.checked) ? (value as CandidatesOfItem) : undefined;
}

/**
 * `cairn status`'s lines under a best-of-N item (ADR 0053): how the winner is chosen, then each
 * candidate side by side — its round and attempt, how it ended, its check's verdict, exit code and
 * score, the size of its patch — the winner marked, why it won (and that the judge decided, when it
 * did), and why a judge's answer was refused, when it was.
 */
export function candidateLines(candidates: CandidatesOfItem | undefined, indent: number): string[] {
  if (candidates === undefined || candidates.checked.length === 0) return [];
  const pad = ' '.repeat(indent);
  // Candidate by candidate, round after round, whatever order their checks came in.
  const ordered = [...candidates.checked].sort((a, b) => a.round - b.round || a.candidate - b.candidate);
  const cells = ordered.map((each) => {
    const verdict =
      each.outcome !== 'succeeded' ? each.outcome : each.passed ? 'passed' : each.exitCode === null && each.patchBytes === 0 ? 'no patch' : 'check failed';
    const exit = each.outcome === 'succeeded' && each.exitCode !== null ? `exit ${each.exitCode}` : '';
    const score = each.score === null ? '' : `score ${each.score}`;
    return [
      `round ${each.round} #${each.candidate}`,
      `attempt ${each.attempt}`,
      verdict,
      exit,
      score,
      each.patchBytes > 0 ? `${each.patchBytes} B` : '',
      each.attempt === candidates.winner ? '← winner' : '',
    ];
  });
  // A column no candidate has anything in (no scores) takes no room.
  const used = cells[0]!.map((_, column) => cells.some((row) => row[column] !== ''));
  const rows = cells.map((row) => row.filter((_, column) => used[column]));
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const how = `${candidates.order}${candidates.stopOnFirstPass ? ', stop on first pass' : ''}`;
  return [
    `${pad}candidates (${how}):`,
    ...rows.map(
      (row) =>
        `${pad}  ${row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd()}`,
    ),
    ...(candidates.reason === null ? [] : [`${pad}  won${candidates.decidedBy === 'judge' ? ' (decided by the judge)' : ''}: ${candidates.reason}`]),
    ...(typeof candidates.judge?.refused === 'string' ? [`${pad}  judge refused, the order decided: ${candidates.judge.refused}`] : []),
  ];
}
