import { expect, test } from 'vitest';
import { formatDuration, isCairnError, isDurationText, parseDuration } from '../index.ts';

test('parses each unit', () => {
  expect([parseDuration('500ms'), parseDuration('30s'), parseDuration('10m'), parseDuration('2h'), parseDuration('1d')]).toEqual([
    500, 30_000, 600_000, 7_200_000, 86_400_000,
  ]);
});

test.each(['', '0s', '10', 'm', '1.5h', '-1s', ' 1s', '1s ', '1h30m', '01s', '1000000000s', '1 s', '1S'])('refuses %j with its location', (text) => {
  expect(isDurationText(text)).toBe(false);
  try {
    parseDuration(text, '$.defaults.timeout');
    expect.unreachable();
  } catch (error) {
    expect(isCairnError(error, 'CAIRN_DURATION_INVALID')).toBe(true);
    expect((error as Error).message).toContain('$.defaults.timeout');
  }
});

test('formats the shortest exact text and round-trips', () => {
  for (const milliseconds of [1, 999, 1000, 60_000, 90_000, 3_600_000, 86_400_000 * 3]) {
    expect(parseDuration(formatDuration(milliseconds))).toBe(milliseconds);
  }
  expect(formatDuration(600_000)).toBe('10m');
  expect(() => formatDuration(0)).toThrow();
});
