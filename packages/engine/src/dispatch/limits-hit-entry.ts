import type { JsonObject } from '@cairn/core';
import type { ResultRead } from './read-result.ts';

/**
 * The disk limits the worker said refused a write, for the attempt's history (its
 * `attempt.completed` entry): which, how many writes and the limit, whatever the outcome (an item
 * that reached its /tmp's limit, freed it and exited 0 succeeded). The message stays in the result
 * record: an entry's data is kept forever and is not prose.
 */
export function limitsHitOf(read: ResultRead): { limitsHit?: JsonObject[] } {
  if (read === undefined || 'rejected' in read || !read.limitsHit || read.limitsHit.length === 0) return {};
  return { limitsHit: read.limitsHit.map(({ limit, refusedWrites, limitBytes }) => ({ limit, refusedWrites, limitBytes })) };
}
