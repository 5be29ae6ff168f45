import { expect, test } from 'vitest';
import { scheduleListLines } from './schedule-lines.ts';

test('a heading over the columns, each column as wide as its longest value, so long ids and zones keep the next in line', () => {
  const lines = scheduleListLines([
    {
      scheduleId: 'nightly-dependency-refresh-for-every-repo',
      cron: '0 3 * * *',
      timeZone: 'America/Argentina/Buenos_Aires',
      nextSlot: '2026-11-28T06:00:00.000Z',
    },
    { scheduleId: 'pulse', cron: '* * * * * *', timeZone: 'UTC', nextSlot: '2026-11-27T05:00:01.000Z' },
  ]);
  expect(lines).toEqual([
    'schedule                                   cron         time zone                       next slot',
    'nightly-dependency-refresh-for-every-repo  0 3 * * *    America/Argentina/Buenos_Aires  2026-11-28T06:00:00.000Z',
    'pulse                                      * * * * * *  UTC                             2026-11-27T05:00:01.000Z',
  ]);
  // Every row's columns start where the heading's do.
  for (const heading of ['cron', 'time zone', 'next slot']) {
    const start = lines[0]!.indexOf(heading);
    expect(lines.slice(1).map((line) => line[start - 1] === ' ' && line[start] !== ' ')).toEqual([true, true]);
  }
});

test('no schedules: the heading alone', () => {
  expect(scheduleListLines([])).toEqual(['schedule  cron  time zone  next slot']);
});
