import { randomBytes } from 'node:crypto';

const randomDigits = 12;
const largestRandom = (1n << 48n) - 1n;
let last: { readonly now: number; readonly random: bigint } | undefined;

/**
 * A run id that sorts by creation time and is unguessable: `r-` + milliseconds (base 36, fixed
 * width) + 12 random hex digits. Ids made in one millisecond by this process sort in the order they
 * were made (the random part of each is the one before it plus one, as ULID's monotonic mode does):
 * runs are listed newest first by (submitted at, run id), and a run submitted while a client pages
 * through the list must land before the page it is on, never among the pages still to come.
 */
export function newRunId(now: number): string {
  const random = last !== undefined && last.now === now && last.random < largestRandom ? last.random + 1n : BigInt(`0x${randomBytes(6).toString('hex')}`);
  last = { now, random };
  return `r-${now.toString(36).padStart(9, '0')}-${random.toString(16).padStart(randomDigits, '0')}`;
}
