import type { ItemState, RunState } from '@cairn/core';

/** How many runs and items are in each state, and how many items wait to be dispatched. */
export interface StateCounts {
  readonly runs: Readonly<Record<RunState, number>>;
  readonly items: Readonly<Record<ItemState, number>>;
  /** Items ready now or waiting out a retry backoff: the dispatch queue's depth. */
  readonly readyItems: number;
  /** Attempts dispatched and not yet ended. */
  readonly liveAttempts: number;
}
