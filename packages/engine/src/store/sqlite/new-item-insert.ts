import { dispatchOrderOf } from './dispatch-order.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { MultiRowInsert } from './multi-row-insert.ts';

/** An item as `RunStore.insertItems` stores it. */
export interface NewItem {
  readonly runId: string;
  readonly itemId: string;
  readonly position: number;
  /** `blocked`, or `ready` for an item released at submit. */
  readonly state: 'blocked' | 'ready';
  /** When a `ready` item is due; null for a blocked one. */
  readonly readyAt: string | null;
  readonly waitingOn: number;
  readonly approvalRequired: boolean;
  /** Its spec with the run's defaults applied, canonical JSON. */
  readonly spec: string;
  readonly executor: string;
  /** Its dispatch priority (`ItemPriority`: its own, else its run's). */
  readonly priority: number;
}

/** Items one statement inserts at most (11 values each, far below SQLite's limit on values). */
const maxItemsPerInsert = 64;

/**
 * The insert of a run's new items (`NewItem`), up to `maxItemsPerInsert` a statement (a
 * 10,000-item run in 157 statements, not 10,000), each one `ready` placed in the dispatch order.
 */
export class NewItemInsert {
  readonly #insert: MultiRowInsert<string | number | null>;
  readonly #priorityAgingMs: number;

  constructor(database: EngineDatabase, priorityAgingMs: number) {
    this.#priorityAgingMs = priorityAgingMs;
    this.#insert = new MultiRowInsert(
      database,
      'INSERT INTO items (run_id, item_id, position, state, ready_at, waiting_on, approval_required, spec, executor, priority, dispatch_order)',
      11,
      maxItemsPerInsert,
    );
  }

  /** Inserts `items`; a `ready` one's dispatch order is `dispatchOrderOf` its ready time and priority. */
  run(items: readonly NewItem[]): void {
    const values: (string | number | null)[] = [];
    // The items of one insert are mostly ready at one time: its text is parsed once.
    let parsed: { readonly text: string; readonly ms: number } | undefined;
    for (const item of items) {
      let order: number | null = null;
      if (item.readyAt !== null) {
        if (parsed?.text !== item.readyAt) parsed = { text: item.readyAt, ms: Date.parse(item.readyAt) };
        order = dispatchOrderOf(parsed.ms, item.priority, this.#priorityAgingMs);
      }
      values.push(
        item.runId,
        item.itemId,
        item.position,
        item.state,
        item.readyAt,
        item.waitingOn,
        item.approvalRequired ? 1 : 0,
        item.spec,
        item.executor,
        item.priority,
        order,
      );
    }
    this.#insert.run(values);
  }
}
