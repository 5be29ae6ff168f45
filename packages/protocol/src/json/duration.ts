import type { DurationText } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';

const unitMilliseconds = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const durationPattern = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/;

/** True when `text` is a duration such as `500ms`, `30s`, `10m`, `2h` or `1d`. */
export function isDurationText(text: unknown): text is DurationText {
  return typeof text === 'string' && durationPattern.test(text);
}

/**
 * Milliseconds in a duration such as `10m`: a positive whole number (at most 9 digits) and one
 * unit of ms, s, m, h, d. Throws CAIRN_DURATION_INVALID naming `where`.
 */
export function parseDuration(text: string, where = 'duration'): number {
  const match = durationPattern.exec(text);
  if (!match) {
    throw new CairnError('CAIRN_DURATION_INVALID', `${where} must be a duration like 30s, 10m or 2h, got ${JSON.stringify(text)}.`, { path: where });
  }
  return Number(match[1]) * unitMilliseconds[match[2] as keyof typeof unitMilliseconds];
}

/** The shortest exact duration text for a whole number of milliseconds (`600000` → `10m`). */
export function formatDuration(milliseconds: number): DurationText {
  if (!Number.isSafeInteger(milliseconds) || milliseconds <= 0) {
    throw new CairnError('CAIRN_DURATION_INVALID', `A duration must be a positive whole number of milliseconds, got ${milliseconds}.`);
  }
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (milliseconds % unitMilliseconds[unit] === 0) return `${milliseconds / unitMilliseconds[unit]}${unit}`;
  }
  return `${milliseconds}ms`;
}
