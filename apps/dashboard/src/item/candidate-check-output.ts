/** The line the worker writes before a candidate's check output in its attempt's log. */
const outputMarker = '[check] output (its end):\n';
/** The line it writes after, with the verdict: `[check] passed (exit 0, score 3)`. */
const verdictMarker = '[check] ';

/**
 * The end of a candidate's check output, from its attempt's log (`?format=text`): the worker
 * appends the check's tail and then its verdict line there (ADR 0053), never to the audit log.
 * Null when the log holds no check (the candidate failed, changed nothing, or was stopped).
 */
export function candidateCheckOutput(log: string): string | null {
  const start = log.lastIndexOf(outputMarker);
  // The worker writes the tail as it is, then a newline: a tail that ended in one leaves a blank line before the verdict.
  if (start !== -1)
    return log
      .slice(start + outputMarker.length)
      .trimEnd()
      .replace(/\n+(\[check\] [^\n]*)$/, '\n$1');
  // A check with no output at all still writes its verdict.
  const verdict = log.lastIndexOf(`\n${verdictMarker}`);
  return verdict === -1 ? (log.startsWith(verdictMarker) ? log.trimEnd() : null) : log.slice(verdict + 1).trimEnd();
}
