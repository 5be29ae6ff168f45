import { isDurationText, parseDuration } from '@cairn/protocol';
import { z } from 'zod';

/** A duration setting: a whole number and one unit (`30s`, `2m`), checked as text and parsed where used. */
export const duration = z.string().refine(isDurationText, 'must be a duration: a whole number and one unit of ms, s, m, h or d (30s, 2m)');

/** A duration no longer than `limit` (what the runtime accepts), named in the message. */
export const durationUpTo = (limit: string) =>
  duration.refine((text) => !isDurationText(text) || parseDuration(text) <= parseDuration(limit), `must be at most ${limit}`);
