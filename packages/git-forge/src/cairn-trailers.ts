/** A trailer line as git reads one: a token, a colon, a value (`Co-authored-by: A <a@b>`). */
const trailerLine = /^[A-Za-z0-9][A-Za-z0-9-]*:\s?\S/;
const cairnTrailer = /^Cairn-(?:Run|Evidence):/i;

/**
 * The commit message of a delivery: the caller's message with `Cairn-Run` and `Cairn-Evidence` as
 * its last trailers. When the message already ends with a trailer block (`Co-authored-by: ...`),
 * ours join that block (git reads trailers from the last paragraph only); Cairn trailers already
 * there are replaced, so a value in the message can never contradict the delivery's.
 */
export function withCairnTrailers(message: string, runId: string, evidenceDigest: string): string {
  const paragraphs = message
    .replace(/\r\n/g, '\n')
    .trim()
    .split(/\n[ \t]*\n/);
  const last = paragraphs.at(-1)!.split('\n');
  const ours = [`Cairn-Run: ${runId}`, `Cairn-Evidence: ${evidenceDigest}`];
  if (paragraphs.length > 1 && last.every((line) => trailerLine.test(line))) {
    paragraphs[paragraphs.length - 1] = [...last.filter((line) => !cairnTrailer.test(line)), ...ours].join('\n');
  } else {
    paragraphs.push(ours.join('\n'));
  }
  return `${paragraphs.join('\n\n')}\n`;
}
