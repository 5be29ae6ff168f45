import type { GitHubReview } from '@cairn/github-forge';

/** The most characters a follow-up's text parameters take: a fresh attempt gets a summary of the feedback, never a transcript. */
export const followUpBounds = { body: 8_000, diffHunk: 4_000 } as const;

/** Keeps the first `max` characters of `text`, saying how many were cut. */
export function boundedHead(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `\n… (${text.length - max} more characters cut)`;
  return `${text.slice(0, Math.max(0, max - marker.length))}${marker}`;
}

/** Keeps the last `max` characters of `text` (a log's failure is at its end), saying how many were cut. */
export function boundedTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `(${text.length - max} earlier characters cut) …\n`;
  return `${marker}${text.slice(text.length - Math.max(0, max - marker.length))}`;
}

/** A review as one text: its body, then each line comment with where it is and the lines it is on. */
export function reviewText(review: GitHubReview): string {
  const parts = review.body.trim() === '' ? [] : [review.body.trim()];
  for (const comment of review.comments) {
    const hunk = boundedTail(comment.diffHunk, 1_000);
    parts.push(`On ${comment.path}${comment.line === null ? '' : ` line ${comment.line}`}:\n\`\`\`diff\n${hunk}\n\`\`\`\n${comment.body.trim()}`);
  }
  return boundedHead(parts.join('\n\n'), followUpBounds.body);
}
