import { describe, expect, test } from 'vitest';
import { cronOf, dueSlots, skippedCountLimit } from './schedule-slots.ts';

const minute = 60_000;
const grace = minute;
const at = (iso: string) => Date.parse(iso);
const iso = (slots: readonly number[]) => slots.map((slot) => new Date(slot).toISOString());
const everyMinute = cronOf('* * * * *', 'UTC');

describe('dueSlots', () => {
  test('on time: the one due slot fires, nothing is let go, the schedule resumes at the next slot', () => {
    const due = dueSlots(everyMinute, at('2026-11-22T10:01:00Z'), at('2026-11-22T10:01:02Z'), 'skip', grace);
    expect(iso(due.fire)).toEqual(['2026-11-22T10:01:00.000Z']);
    expect(due.skipped).toBeUndefined();
    expect(due.next).toBe(at('2026-11-22T10:02:00Z'));
  });

  test('a slot exactly at now is due; nothing is due before the first slot', () => {
    expect(iso(dueSlots(everyMinute, at('2026-11-22T10:01:00Z'), at('2026-11-22T10:01:00Z'), 'skip', grace).fire)).toEqual(['2026-11-22T10:01:00.000Z']);
    expect(dueSlots(everyMinute, at('2026-11-22T10:01:00Z'), at('2026-11-22T10:00:59.999Z'), 'latest', grace)).toEqual({
      fire: [],
      skipped: undefined,
      next: at('2026-11-22T10:01:00Z'),
    });
  });

  test('skip fires the latest due slot only while it is on time, and lets the others go', () => {
    const onTime = dueSlots(everyMinute, at('2026-11-22T10:01:00Z'), at('2026-11-22T13:00:30Z'), 'skip', grace);
    expect(iso(onTime.fire)).toEqual(['2026-11-22T13:00:00.000Z']);
    expect(onTime.skipped).toEqual({ count: 179, countCapped: false, first: at('2026-11-22T10:01:00Z'), last: at('2026-11-22T12:59:00Z') });
    // With a grace shorter than the period, the latest slot can be late too: then none fires.
    const late = dueSlots(everyMinute, at('2026-11-22T10:01:00Z'), at('2026-11-22T13:02:30Z'), 'skip', 10_000);
    expect(late.fire).toEqual([]);
    expect(late.skipped).toEqual({ count: 182, countCapped: false, first: at('2026-11-22T10:01:00Z'), last: at('2026-11-22T13:02:00Z') });
    expect(late.next).toBe(at('2026-11-22T13:03:00Z'));
  });

  test('latest fires the most recent slot however late; all(n) the n most recent, oldest first', () => {
    const from = at('2026-11-22T10:01:00Z');
    const now = at('2026-11-22T11:00:30Z') + 10 * minute;
    const latest = dueSlots(everyMinute, from, now, 'latest', grace);
    expect(iso(latest.fire)).toEqual(['2026-11-22T11:10:00.000Z']);
    expect(latest.skipped).toMatchObject({ count: 69, last: at('2026-11-22T11:09:00Z') });
    const all = dueSlots(everyMinute, from, now, { all: 3 }, grace);
    expect(iso(all.fire)).toEqual(['2026-11-22T11:08:00.000Z', '2026-11-22T11:09:00.000Z', '2026-11-22T11:10:00.000Z']);
    expect(all.skipped).toEqual({ count: 67, countCapped: false, first: from, last: at('2026-11-22T11:07:00Z') });
    const fewer = dueSlots(everyMinute, from, at('2026-11-22T10:02:10Z'), { all: 5 }, grace);
    expect(iso(fewer.fire)).toEqual(['2026-11-22T10:01:00.000Z', '2026-11-22T10:02:00.000Z']);
    expect(fewer.skipped).toBeUndefined();
  });

  test('a minutely schedule down for a year: bounded work, the count capped, the right slots fired', () => {
    const from = at('2025-11-22T10:01:00Z');
    const now = at('2026-11-22T10:00:30Z');
    for (const policy of ['skip', 'latest', { all: 1_000 }] as const) {
      // Count croner's steps (not seconds: the machines are shared): 525,600 slots lie in the gap.
      let steps = 0;
      const counted = new Proxy(everyMinute, {
        get: (target, name) => {
          const value = Reflect.get(target, name) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            steps += 1;
            return (value as (...args: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const due = dueSlots(counted, from, now, policy, grace);
      expect(steps, `croner calls for ${JSON.stringify(policy)}`).toBeLessThanOrEqual(skippedCountLimit + 1_000 + 4);
      expect(due.skipped).toMatchObject({ count: skippedCountLimit, countCapped: true, first: from });
      if (policy === 'skip' || policy === 'latest') {
        expect(iso(due.fire)).toEqual(['2026-11-22T10:00:00.000Z']);
        expect(due.skipped!.last).toBe(at('2026-11-22T09:59:00Z'));
      } else {
        expect(due.fire).toHaveLength(1_000);
        expect(new Date(due.fire[0]!).toISOString()).toBe('2026-11-21T17:21:00.000Z');
        expect(due.skipped!.last).toBe(at('2026-11-21T17:20:00Z'));
      }
    }
  });

  test('slots with seconds are due however far into their second the clock is', () => {
    const pulse = cronOf('* * * * * *', 'UTC');
    const due = dueSlots(pulse, at('2026-11-22T10:00:01Z'), at('2026-11-22T10:00:03.990Z'), { all: 10 }, grace);
    expect(iso(due.fire)).toEqual(['2026-11-22T10:00:01.000Z', '2026-11-22T10:00:02.000Z', '2026-11-22T10:00:03.000Z']);
    expect(due.next).toBe(at('2026-11-22T10:00:04Z'));
  });
});
