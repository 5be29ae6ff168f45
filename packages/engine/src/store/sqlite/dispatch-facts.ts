/** What a dispatch reads of a ready item (`RunStore.dispatchFacts`); the lock wait's names as JSON text. */
export interface DispatchFacts {
  readonly spec: string;
  readonly executor: string;
  readonly workspace: string | null;
  readonly nextAttempt: number;
  /** 1 when another item depends on it (its success may make one ready), else 0. */
  readonly hasDependents: number;
  /** When a pass first found it held back by a lock (and which, a JSON array); null while it has not waited for one. */
  readonly lockWaitStartedAt: string | null;
  readonly lockWaitLocks: string | null;
}

/**
 * What a dispatch reads of an item besides its row (`DispatchFacts`, less the lock wait the row
 * has). Each subquery an index search: measured on a 10,000-item run, a JOIN of runs
 * instead of the subquery ~25 µs, and MAX(attempt) over the item's attempts ~15 µs where their
 * COUNT is ~1.5 µs (SQLite walks an index range forward faster than it seeks its end).
 */
export const dispatchFactColumns = `items.spec, items.executor, (SELECT runs.workspace FROM runs WHERE runs.run_id = items.run_id) AS workspace,
  (SELECT COUNT(*) + 1 FROM attempts WHERE attempts.run_id = items.run_id AND attempts.item_id = items.item_id) AS nextAttempt,
  EXISTS (SELECT 1 FROM item_edges WHERE item_edges.run_id = items.run_id AND item_edges.prerequisite = items.item_id) AS hasDependents`;
