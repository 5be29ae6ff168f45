import { expect, test } from 'vitest';
import { retryDelay } from './retry-delay.ts';

test('exponential, capped, with full jitter unless turned off', () => {
  const exact = { initial: '2s', factor: 3, max: '1m', jitter: false } as const;
  expect([1, 2, 3, 4, 5].map((attempt) => retryDelay(attempt, exact))).toEqual([2_000, 6_000, 18_000, 54_000, 60_000]);
  expect(retryDelay(2, { initial: '2s', factor: 3 }, () => 0.5)).toBe(3_000);
  expect(retryDelay(1, {}, () => 0.999)).toBe(999);
  for (let attempt = 1; attempt < 30; attempt++) expect(retryDelay(attempt)).toBeLessThanOrEqual(300_000);
});
