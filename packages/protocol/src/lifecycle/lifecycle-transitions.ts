import type { AttemptState, ItemState, RunState } from '@cairn/core';
import { CairnError } from '../errors/cairn-error.ts';

/** A lifecycle as data: for each state, the states it may move to. Terminal states map to []. */
export type TransitionTable<State extends string> = Readonly<Record<State, readonly State[]>>;

/**
 * `queued → running → succeeded | failed | cancelled`; a queued run may be cancelled or fail to
 * start. A running run whose budget is spent awaits a raise (`awaiting-budget → running`), and
 * still ends when its last item does.
 */
export const runTransitions: TransitionTable<RunState> = {
  queued: ['running', 'failed', 'cancelled'],
  running: ['awaiting-budget', 'succeeded', 'failed', 'cancelled'],
  'awaiting-budget': ['running', 'succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/**
 * `blocked → [awaiting-approval →] ready → running → succeeded | failed`, with `skipped` when an
 * upstream item failed, `cancelled` from any live state, `running → ready` when a failed attempt
 * has attempts left, `running → blocked` when a merge that conflicted waits for a producer's
 * re-run (`onConflict: rerun`), `awaiting-approval → failed` when the approval is rejected or
 * times out, and `ready → awaiting-approval` when an approval it needed lapsed before it started
 * (the approver's access was revoked, ADR 0046).
 */
export const itemTransitions: TransitionTable<ItemState> = {
  blocked: ['awaiting-approval', 'ready', 'skipped', 'cancelled'],
  'awaiting-approval': ['ready', 'failed', 'skipped', 'cancelled'],
  ready: ['running', 'awaiting-approval', 'skipped', 'cancelled'],
  running: ['succeeded', 'failed', 'ready', 'blocked', 'cancelled'],
  succeeded: [],
  failed: [],
  skipped: [],
  cancelled: [],
};

/** `dispatching → running → succeeded | failed | timed-out | cancelled | lost`. */
export const attemptTransitions: TransitionTable<AttemptState> = {
  dispatching: ['running', 'failed', 'cancelled', 'lost'],
  running: ['succeeded', 'failed', 'timed-out', 'cancelled', 'lost'],
  succeeded: [],
  failed: [],
  'timed-out': [],
  cancelled: [],
  lost: [],
};

/** Every state of each lifecycle, in lifecycle order: the closed vocabularies as values. */
export const runStates = Object.keys(runTransitions) as readonly RunState[];
export const itemStates = Object.keys(itemTransitions) as readonly ItemState[];
export const attemptStates = Object.keys(attemptTransitions) as readonly AttemptState[];

/** True when `table` lets `from` move to `to`. */
export function canTransition<State extends string>(table: TransitionTable<State>, from: State, to: State): boolean {
  return table[from].includes(to);
}

/** True when nothing can follow `state`. */
export function isTerminalState<State extends string>(table: TransitionTable<State>, state: State): boolean {
  return table[state].length === 0;
}

/**
 * Throws CAIRN_LIFECYCLE_TRANSITION_INVALID unless `table` lets `from` move to `to`; `subject`
 * names what is moving (`item verify of run r1`).
 */
export function assertTransition<State extends string>(table: TransitionTable<State>, from: State, to: State, subject: string): void {
  if (canTransition(table, from, to)) return;
  const allowed = table[from].length === 0 ? `${from} is final` : `from ${from} it can only become ${table[from].join(', ')}`;
  throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', `${subject} cannot go from ${from} to ${to}: ${allowed}.`, { details: { from, to } });
}
