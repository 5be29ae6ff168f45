import type { JsonObject } from '@cairn/core';
import type { ResultRead } from './read-result.ts';

/**
 * The warm environment an attempt ran over (ADR 0056), for its `attempt.completed` entry: its
 * digest (the key: the key files' contents, the setup argv, the base), whether this attempt ran the
 * setup, and how long the setup took. So the evidence bundle names the environment beside the
 * setup's log (the `environmentLog` artifact), and a reader can tell which attempt built it.
 */
export function environmentOf(read: ResultRead): { environment?: JsonObject } {
  if (read === undefined || 'rejected' in read || read.environment === undefined) return {};
  const { digest, built, setupMs } = read.environment;
  return { environment: { built, digest, setupMs } };
}
