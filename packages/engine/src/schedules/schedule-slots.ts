import { Cron } from 'croner';

/** What to do with slots missed while the engine was down: none, the latest, or up to `all` of them. */
export type CatchUpPolicy = 'skip' | 'latest' | { readonly all: number };

/** The slots to fire now and how many due slots are let go. */
export interface DueSlots {
  /** Oldest first. */
  readonly fire: readonly number[];
  /** Due slots not fired (missed beyond the policy); counted up to `countLimit`. */
  readonly skipped: number;
  /** The first slot after `now`: where the schedule resumes. */
  readonly next: number | null;
}

/** Past this many, missed slots are not counted one by one (a minutely schedule down for a year). */
const countLimit = 100_000;

/** A cron expression in a time zone, for computing slots only (croner, never started). */
export function cronOf(expression: string, timeZone: string): Cron {
  return new Cron(expression, { timezone: timeZone, paused: true });
}

/**
 * Which due slots (from `from` up to `now`) to fire under `policy`. Slots older than `graceMs` at
 * `now` count as missed: `skip` fires only a slot that is on time, `latest` the most recent one
 * however late, `{ all: n }` the most recent n, oldest first.
 */
export function dueSlots(cron: Cron, from: number, now: number, policy: CatchUpPolicy, graceMs: number): DueSlots {
  const wanted = policy === 'skip' || policy === 'latest' ? 1 : policy.all;
  // croner's previousRuns looks strictly before the whole second of its reference: one second past
  // `now`'s own second reaches the slots up to `now` inclusive.
  const recent = cron
    .previousRuns(wanted, new Date(Math.floor(now / 1000) * 1000 + 1000))
    .map((date) => date.getTime())
    .filter((slot) => slot >= from && slot <= now)
    .reverse();
  const fire = policy === 'skip' ? recent.filter((slot) => now - slot <= graceMs) : recent;
  return { fire, skipped: countSlots(cron, from, now) - fire.length, next: cron.nextRun(new Date(now))?.getTime() ?? null };
}

/** Slots in [from, now], counted up to `countLimit`. */
function countSlots(cron: Cron, from: number, now: number): number {
  let count = 0;
  for (let slot = cron.nextRun(new Date(from - 1)); slot !== null && slot.getTime() <= now && count < countLimit; slot = cron.nextRun(slot)) count++;
  return count;
}
