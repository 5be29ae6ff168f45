import type { ItemRecord } from '../../records/run-records.ts';
import { itemOfRow, type ItemRow } from '../shared/stored-records.ts';
import { dispatchFactColumns, type DispatchFacts } from './dispatch-facts.ts';
import type { EngineDatabase, EngineStatement } from '../shared/engine-database.ts';
import { itemColumns } from './item-columns.ts';

/** A ready item as a dispatch pass reads it: its row and what its dispatch needs (`RunStore.dispatchFacts`). */
export interface ReadyCandidate {
  readonly item: ItemRecord;
  readonly facts: DispatchFacts;
}

/** How many page sizes of ready items keep statements of their own (`ReadyItemPages.#statementsOf`). */
const readyPageSizesKept = 64;

type ReadyRow = ItemRow & Omit<DispatchFacts, 'lockWaitStartedAt' | 'lockWaitLocks'> & { readyRowid: number; dispatchOrder: number };

/** The prepared reads of a page of ready items (the first, and the one after a given one). */
interface ReadyPageReads {
  readonly first: EngineStatement<unknown[], ReadyRow>;
  readonly after: EngineStatement<unknown[], ReadyRow>;
}

/** Reads of one page of ready items: the first, and the one after (dispatch_order, rowid). */
interface ReadyPageStatements {
  readonly first: (now: string) => ReadyRow[];
  readonly after: (now: string, dispatchOrder: number, rowid: number) => ReadyRow[];
}

/**
 * The read of a page of ready items, with what their dispatch needs, in dispatch order: a walk of
 * the partial index items_dispatch_order (a parked item, with no order, is not in it), passing
 * over an item not due yet (a retry's backoff). `first` binds the time; `after` the time and the
 * (dispatch_order, rowid) of the last item of the page before.
 */
export function readyPageSql(limit: string, page: 'first' | 'after'): string {
  return `SELECT ${itemColumns}, ${dispatchFactColumns}, rowid AS readyRowid, dispatch_order AS dispatchOrder FROM items
    WHERE state = 'ready' AND dispatch_order IS NOT NULL AND ready_at <= ?${page === 'after' ? ' AND (dispatch_order, rowid) > (?, ?)' : ''}
    ORDER BY dispatch_order, rowid LIMIT ${limit}`;
}

/**
 * Ready items in dispatch order with what their dispatch needs, read a page at a time as a
 * dispatch pass takes them (`RunStore.readyCandidatesInPages`).
 */
export class ReadyItemPages {
  readonly #database: EngineDatabase;
  /** The statements reading a page of ready items, by page size (see `#statementsOf`). */
  readonly #pages = new Map<number, ReadyPageStatements>();
  /** The pair with a bound limit, for sizes past those kept. */
  #pagesBound: ReadyPageReads | undefined;

  constructor(database: EngineDatabase) {
    this.#database = database;
  }

  /**
   * The items ready by `now`, up to `limit`, in dispatch order, each with its `DispatchFacts` read
   * in the same statement, `pageSize` rows at a time as the caller takes them: a caller that stops
   * early (a dispatch pass that is full) reads no more pages. Each page is read whole, so the
   * caller may run other statements between items.
   */
  *read(limit: number, pageSize: number, now: string): Generator<ReadyCandidate> {
    let after: { dispatchOrder: number; rowid: number } | undefined;
    for (let read = 0; read < limit;) {
      const size = Math.min(pageSize, limit - read);
      const statements = this.#statementsOf(size);
      const page = after === undefined ? statements.first(now) : statements.after(now, after.dispatchOrder, after.rowid);
      read += page.length;
      for (const { readyRowid, dispatchOrder, spec, executor, workspace, nextAttempt, hasDependents, ...row } of page) {
        after = { dispatchOrder, rowid: readyRowid };
        const facts = { spec, executor, workspace, nextAttempt, hasDependents, lockWaitStartedAt: row.lockWaitStartedAt, lockWaitLocks: row.lockWaitLocks };
        yield { item: itemOfRow(row), facts };
      }
      if (page.length < size) return;
    }
  }

  // The two statements that read a page of `size` ready items (the first page, and the page after
  // a given one), with the size written into the SQL as a literal and kept for reuse. A bound
  // `LIMIT ?` costs SQLite a new query plan at every execution (measured on a chain of quick
  // items: ~20 µs a read of one ready item, against ~2 µs with a literal), and the
  // dispatcher reads a page in every pass. The sizes a dispatcher asks for are few (its capacity
  // plus a margin, and what is left of its limit): past `readyPageSizesKept` of them, a page is
  // read by one pair of statements with a bound limit.
  #statementsOf(size: number): ReadyPageStatements {
    const kept = this.#pages.get(size);
    if (kept !== undefined) return kept;
    if (this.#pages.size >= readyPageSizesKept) {
      this.#pagesBound ??= this.#prepare('?');
      const { first, after } = this.#pagesBound;
      return { first: (now) => first.all(now, size), after: (now, dispatchOrder, rowid) => after.all(now, dispatchOrder, rowid, size) };
    }
    const { first, after } = this.#prepare(String(size));
    const statements: ReadyPageStatements = { first: (now) => first.all(now), after: (now, dispatchOrder, rowid) => after.all(now, dispatchOrder, rowid) };
    this.#pages.set(size, statements);
    return statements;
  }

  #prepare(limit: string): ReadyPageReads {
    const prepare = this.#database.prepare.bind(this.#database);
    return {
      first: prepare<unknown[], ReadyRow>(readyPageSql(limit, 'first')),
      after: prepare<unknown[], ReadyRow>(readyPageSql(limit, 'after')),
    };
  }
}
