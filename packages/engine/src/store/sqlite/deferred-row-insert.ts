import { deferUntilCommit, type DeferredWriter } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { MultiRowInsert } from './multi-row-insert.ts';

/**
 * A `MultiRowInsert` whose rows wait in memory for the end of the transaction body that adds them
 * (`deferUntilCommit`) and are written then, many a statement; outside a watched transaction they
 * are written at once. A transaction that piles up `maxPendingRows` rows writes them as it goes,
 * in the transaction still (they roll back with it), so a large one (a 100,000-item submit) does
 * not hold them all until its end.
 */
export class DeferredRowInsert<Value> implements DeferredWriter {
  readonly #database: EngineDatabase;
  readonly #insert: MultiRowInsert<Value>;
  readonly #maxPendingValues: number;
  /** Rows added in the open transaction and not written yet, `width` values each. */
  #pending: Value[] = [];

  /** `head`, `width` and `maxRowsPerStatement` as for `MultiRowInsert`. */
  constructor(database: EngineDatabase, head: string, width: number, maxRowsPerStatement: number, maxPendingRows: number) {
    this.#database = database;
    this.#insert = new MultiRowInsert(database, head, width, maxRowsPerStatement);
    this.#maxPendingValues = width * maxPendingRows;
  }

  /** Adds `values` (a whole number of rows). */
  add(values: readonly Value[]): void {
    if (!deferUntilCommit(this.#database, this)) this.#insert.run(values);
    else {
      // A loop, not push(...values): the spread call costs more than the pushes (an audit append).
      for (let index = 0; index < values.length; index++) this.#pending.push(values[index]!);
      if (this.#pending.length >= this.#maxPendingValues) this.flush();
    }
  }

  /** Writes the pending rows now, in the transaction still open. */
  flush(): void {
    const values = this.#pending;
    this.#pending = [];
    this.#insert.run(values);
  }

  /** Forgets the pending rows: the transaction that added them is rolling back. */
  discard(): void {
    this.#pending = [];
  }
}
