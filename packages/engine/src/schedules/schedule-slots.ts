import { Cron } from 'croner';

/**
 * What to do with due slots that were missed (the engine was down or busy): `skip` fires only a
 * slot that is still on time, `latest` the most recent one however late, `{ all: n }` the n most
 * recent ones, oldest first.
 */
export type CatchUpPolicy = 'skip' | 'latest' | { readonly all: number };

/** The due slots a catch-up policy lets go, as one audit entry describes them. */
export interface SkippedSlots {
  /** How many; a lower bound when `countCapped` (they are not counted one by one past a limit). */
  readonly count: number;
  readonly countCapped: boolean;
  /** The oldest and the most recent slot let go (ms since the epoch). */
  readonly first: number;
  readonly last: number;
}

/** The due slots to fire now, the ones let go, and where the schedule resumes. */
export interface DueSlots {
  /** Oldest first. */
  readonly fire: readonly number[];
  /** Undefined when no due slot is let go. */
  readonly skipped: SkippedSlots | undefined;
  /** The first slot strictly after `now`; null when the expression has no later slot. */
  readonly next: number | null;
}

/**
 * Past this many, let-go slots are not counted one by one: croner takes some 40 µs a slot, so a
 * minutely schedule down for a year (500,000 slots) would block the engine loop for seconds.
 */
export const skippedCountLimit = 1_000;

/** A cron expression in a time zone, for computing slots only (croner, never started). */
export function cronOf(expression: string, timeZone: string): Cron {
  return new Cron(expression, { timezone: timeZone, paused: true });
}

/**
 * Which due slots — those in [`from`, `now`] — to fire under `policy`, and which are let go. A slot
 * more than `graceMs` old at `now` is missed: `skip` fires only the most recent due slot, and only
 * when it is on time. The work is bounded whatever the gap: at most `skippedCountLimit` plus the
 * policy's own number of slots are computed.
 */
export function dueSlots(cron: Cron, from: number, now: number, policy: CatchUpPolicy, graceMs: number): DueSlots {
  const wanted = policy === 'skip' || policy === 'latest' ? 1 : policy.all;
  const next = cron.nextRun(new Date(now))?.getTime() ?? null;
  // Forward from `from`, up to a bound: in the usual case (one due slot, or a few) this is every
  // due slot, and the count of those let go is exact.
  const bound = skippedCountLimit + wanted;
  const head: number[] = [];
  for (let slot = slotFrom(cron, from); slot !== null && slot <= now && head.length <= bound; slot = cron.nextRun(new Date(slot))?.getTime() ?? null) {
    head.push(slot);
  }
  const complete = head.length <= bound;
  // Past the bound only the most recent slots matter; croner walks back to them from `now`
  // (looking strictly before the whole second after `now`'s, so a slot at `now` is included).
  // There are more than `bound` due slots, so this walk stays inside [from, now].
  const tail = complete
    ? head.slice(-(wanted + 1))
    : cron
        .previousRuns(wanted + 1, new Date(Math.floor(now / 1000) * 1000 + 1000))
        .map((date) => date.getTime())
        .filter((slot) => slot >= from && slot <= now)
        .reverse();
  if (tail.length === 0) return { fire: [], skipped: undefined, next };
  const latest = tail.at(-1)!;
  const fire = policy === 'skip' ? (now - latest <= graceMs ? [latest] : []) : tail.slice(-wanted);
  const skippedInTail = tail.length - fire.length;
  if (complete && head.length === fire.length) return { fire, skipped: undefined, next };
  const last = skippedInTail > 0 ? tail[skippedInTail - 1]! : head.at(-1)!;
  return {
    fire,
    skipped: complete
      ? { count: head.length - fire.length, countCapped: false, first: head[0]!, last }
      : { count: skippedCountLimit, countCapped: true, first: head[0]!, last },
    next,
  };
}

/** The first slot at or after `time` (croner's `nextRun` is strictly after, to the second). */
function slotFrom(cron: Cron, time: number): number | null {
  return cron.nextRun(new Date(time - 1))?.getTime() ?? null;
}
