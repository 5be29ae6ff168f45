import { expect, test } from 'vitest';
import { timeInputValue, timeParameter } from './filter-form.tsx';

test('a time filter round-trips between the URL (RFC 3339, UTC) and the picker (the local time zone), to the millisecond', () => {
  for (const iso of ['2026-11-28T10:33:01.123Z', '2026-03-29T01:30:00.000Z', '2026-12-31T23:59:59.999Z']) {
    const local = timeInputValue(iso);
    expect(local).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?$/);
    expect(timeParameter(local)).toBe(iso);
  }
});

test('no time, or one that is not a time (a hand-written link), leaves the picker empty; an empty picker is no filter', () => {
  expect([timeInputValue(undefined), timeInputValue('yesterday')]).toEqual(['', '']);
  expect([timeParameter(''), timeParameter('  ')]).toEqual([undefined, undefined]);
});
