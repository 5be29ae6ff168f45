import { expect, test } from 'vitest';
import { isoTime } from './iso-time.ts';

test('isoTime writes what Date#toISOString writes, for the same instant again, another, and back', () => {
  for (const milliseconds of [0, 1_764_000_000_000, 1_764_000_000_000, 1_764_000_000_001, 1_764_000_000_000, -1, 8.64e15]) {
    expect(isoTime(milliseconds)).toBe(new Date(milliseconds).toISOString());
  }
});

test('an instant Date cannot write is refused as Date refuses it, even after a valid one', () => {
  isoTime(0);
  expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
});
