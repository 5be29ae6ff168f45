import { expect, test } from 'vitest';
import { reconnectDelayMs } from './reconnect-delay.ts';

const bounds = { firstMs: 1_000, maxMs: 30_000 };

test.each([
  // failures, random, delay: half the ceiling at least, the ceiling doubling from firstMs up to maxMs.
  [1, 0, 500],
  [1, 0.999_999, 1_000],
  [2, 0, 1_000],
  [3, 0.5, 3_000],
  [5, 0, 8_000],
  [6, 0.999_999, 30_000],
  [7, 0, 15_000],
  [1_000, 0.5, 22_500],
  // A count of 0 is read as the first failure.
  [0, 0, 500],
])('after %i failures with random %d the runner waits %i ms', (failures, random, delay) => {
  expect(reconnectDelayMs(failures, bounds, random)).toBe(delay);
});
