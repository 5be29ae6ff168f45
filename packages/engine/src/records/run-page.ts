import type { RunState } from '@cairn/core';
import type { RunRecord } from './run-records.ts';

/** A run in the history: its record, and how many of its items succeeded and how many of those reused a pure result. */
export interface RunSummary extends RunRecord {
  readonly itemsSucceeded: number;
  readonly itemsReused: number;
}

export interface RunListOptions {
  /** Only runs in this state. */
  readonly state?: RunState;
  /** Only runs of exactly this name (the spec's `name`; case and spaces count). */
  readonly name?: string;
  /** Only runs submitted by this actor id (a user name, a token id: the run's `submittedBy`). */
  readonly submitter?: string;
  /** Only runs submitted at or after this instant (RFC 3339, e.g. `2026-11-22T10:00:00Z`; inclusive). */
  readonly submittedAfter?: string;
  /** Only runs submitted before this instant (RFC 3339; exclusive). */
  readonly submittedBefore?: string;
  /** At most this many runs (1 to 500; 50 by default). */
  readonly limit?: number;
  /**
   * Where the previous page ended (its `nextCursor`); the first page without one. A cursor carries
   * the filters of the page that gave it out: it must be passed with the same filters.
   */
  readonly cursor?: string;
}

export interface RunPage {
  /** Newest first: by submit time, then by run id (descending). */
  readonly runs: readonly RunSummary[];
  /** Present when more runs may follow: pass it as `cursor` for the next page. */
  readonly nextCursor?: string;
}
