import type { JsonObject } from '@cairn/core';
import type { ResultRead } from './read-result.ts';

/**
 * What an allow-listed attempt's egress proxy admitted and refused, for the attempt's history (its
 * `attempt.completed` entry, ADR 0049): counts, and each refusal's host, port, reason and the allow
 * entry that would admit it, so `cairn status` and the dashboard can say what to add. The messages
 * stay in the result record and every connection in the `egress` artifact: an entry's data is kept
 * forever and is not prose.
 */
export function egressOf(read: ResultRead): { egress?: JsonObject } {
  if (read === undefined || 'rejected' in read || read.egress === undefined) return {};
  const { allowed, refused, refusals, flagged } = read.egress;
  return {
    egress: {
      allowed,
      refused,
      refusals: refusals.map(({ host, port, reason, wouldAdmit }) => ({ host, port, reason, wouldAdmit })),
      flagged: flagged.length,
    },
  };
}
