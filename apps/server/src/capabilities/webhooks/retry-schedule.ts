/**
 * The waits between attempts Standard Webhooks recommends: immediately, then 5 s, 5 min, 30 min,
 * 2 h, 5 h, 10 h and 10 h — eight attempts over about a day and a half, then the delivery fails.
 * Entry `n` is the wait (ms) before attempt `n + 1`.
 */
export const standardRetrySchedule: readonly number[] = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

/**
 * The wait before the next attempt after `attemptsMade` failed ones, or `undefined` when the
 * schedule is spent. Up to ±20 % jitter, so endpoints that failed together (a receiver restart)
 * are not all retried in the same instant.
 */
export function nextRetryDelay(schedule: readonly number[], attemptsMade: number, random: () => number = Math.random): number | undefined {
  const delay = schedule[attemptsMade];
  if (delay === undefined) return undefined;
  return Math.round(delay * (0.8 + 0.4 * random()));
}
