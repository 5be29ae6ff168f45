import { expect, test } from 'vitest';
import { newRunId } from './new-run-id.ts';

test('run ids sort by time, and those of one millisecond in the order they were made', () => {
  const now = Date.UTC(2026, 10, 28, 16, 0, 0);
  const sameMillisecond = Array.from({ length: 100 }, () => newRunId(now));
  expect([...sameMillisecond].sort()).toEqual(sameMillisecond);
  for (const id of sameMillisecond) expect(id).toMatch(/^r-[0-9a-z]{9}-[0-9a-f]{12}$/);
  const later = newRunId(now + 1);
  expect(later > sameMillisecond.at(-1)!).toBe(true);
  // A new millisecond starts from fresh random digits: two ids of two runs far apart share nothing.
  const ids = new Set(Array.from({ length: 50 }, (_, index) => newRunId(now + 2 + index).slice(-12)));
  expect(ids.size).toBe(50);
});
