import { randomBytes } from 'node:crypto';

/**
 * A run id that sorts by creation time and is unguessable: `r-` + milliseconds (base 36, fixed
 * width) + 12 random hex digits.
 */
export function newRunId(now: number): string {
  return `r-${now.toString(36).padStart(9, '0')}-${randomBytes(6).toString('hex')}`;
}
