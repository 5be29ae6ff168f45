import type { CheckedCandidate } from './rank-candidates.ts';

/** The longest reason kept of a judge's answer: it goes into an audit entry, which is not a transcript. */
export const maxJudgeReason = 1_000;

/** The longest piece of a refused answer quoted in its refusal. */
const maxQuoted = 200;

/**
 * What a judge's output says (ADR 0053): the candidate it chose and why, or why its answer is
 * refused. A refusal leaves the round to the declared order.
 */
export type JudgeAnswer = { readonly chosen: CheckedCandidate; readonly reason: string } | { readonly refused: string; readonly answer: string };

/**
 * Reads a judge's answer from its output (ADR 0053): its last line that opens a JSON object (or,
 * with none, its last non-empty line) must be one JSON object `{"candidate": <n>, "reason": "..."}`, `n` a candidate's place in the round (1 to its
 * size), and that candidate must have passed its check. The judge only advises among what the
 * check passed, so anything else — no such line, another shape, a candidate of no one, or one the
 * check failed — is refused with what was wrong, and never chooses. One reading for the engine
 * that records the answer and the verifier that re-reads the recorded choice.
 */
export function readJudgeAnswer(output: string, round: readonly CheckedCandidate[]): JudgeAnswer {
  // The last line that opens a JSON object, else the last line: a runtime may write lines of its
  // own after what its model said (the openai-compatible runtime's "finished after 2 turns").
  const lines = output
    .split('\n')
    .map((each) => each.trim())
    .filter((each) => each !== '');
  const line = lines.findLast((each) => each.startsWith('{')) ?? lines.at(-1) ?? '';
  const answer = line.length > maxQuoted ? `${line.slice(0, maxQuoted)}…` : line;
  const refuse = (why: string): JudgeAnswer => ({ refused: why, answer });
  if (line === '') return refuse('the judge printed nothing: its last output line must be {"candidate": <n>, "reason": "..."}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return refuse('the last output line of the judge is not JSON: it must be {"candidate": <n>, "reason": "..."}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return refuse('the last output line of the judge is not a JSON object: it must be {"candidate": <n>, "reason": "..."}');
  const { candidate, reason } = parsed as Record<string, unknown>;
  if (typeof candidate !== 'number' || !Number.isInteger(candidate))
    return refuse('the answer\'s "candidate" is not a whole number: it must be the place of a candidate in the round, from 1');
  if (typeof reason !== 'string' || reason.trim() === '') return refuse('the answer has no "reason": a choice must say why');
  const passing = round.filter((each) => each.passed).map((each) => each.candidate);
  const among = `a judge may only choose among the candidates the check passed (${passing.join(', ') || 'none'})`;
  const chosen = round.find((each) => each.candidate === candidate);
  if (chosen === undefined) return refuse(`the judge chose candidate ${candidate}, which the round of ${round.length} does not have: ${among}`);
  if (!chosen.passed) return refuse(`the judge chose candidate ${candidate}, which did not pass its check: ${among}`);
  const kept = reason.trim();
  return { chosen, reason: kept.length > maxJudgeReason ? `${kept.slice(0, maxJudgeReason)}…` : kept };
}
