import type { AuditEntry } from '@cairn/core';
import type { AuditQuery } from '../../records/audit-query.ts';
import { checkSeqBounds, instant } from '../shared/audit-query-bounds.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/**
 * The actions a run's entries are read by through an index of their own (migration 18): the run
 * view's spend and budget raises, an item's votes. Read through the run's index instead, a run of
 * 100,000 items had its 200,000 other entries read on every request for its view.
 */
const actionIndexes: Readonly<Record<string, string>> = {
  'model.called': 'audit_entries_model_calls',
  'run.budget-raised': 'audit_entries_budget_raises',
  'item.approval-voted': 'audit_entries_approval_votes',
};

/** Rows per page of a run's entries; seq numbers scanned per page of the whole log. */
const runPageSize = 500;
const scanWindow = 2_000;

/**
 * Reads audit entries in sequence order, a page at a time, with the filters done by SQLite. Pages
 * rather than one open `.iterate()` cursor: better-sqlite3 refuses every other statement on the
 * connection while an iterator is open, and a reader that streams to a slow client would hold it
 * open across awaits — the engine could not write meanwhile. Each page is a bounded, synchronous
 * read (a run's entries through its index; otherwise a window of seq numbers of the primary key),
 * so memory stays one page and the event loop is never held for a whole log.
 */
export class AuditQueryReader {
  readonly #database: EngineDatabase;
  readonly #statements = new Map<string, ReturnType<EngineDatabase['prepare']>>();

  constructor(database: EngineDatabase) {
    this.#database = database;
  }

  /**
   * The entries `query` keeps, in order, up to `size` (the log's length when called: entries
   * appended while the read goes on are not included, so the read ends). Throws
   * CAIRN_PAYLOAD_INVALID naming the field for a bad range or time, at once (before the first
   * entry is asked for), so a caller can still answer with an error.
   */
  entries(query: AuditQuery, size: number): Generator<AuditEntry> {
    const from = query.from ?? 0;
    const to = Math.min(query.to ?? size, size);
    checkSeqBounds(query);
    const since = instant(query.since, 'since');
    const until = instant(query.until, 'until');
    const conditions = ['seq >= @from', 'seq < @to'];
    const parameters: Record<string, string | number> = {};
    if (query.runId !== undefined) (conditions.push('run_id = @runId'), (parameters['runId'] = query.runId));
    // An action with an index of its own is named in the statement, where SQLite sees that the
    // partial index applies (a bound value it cannot know when it plans).
    const actionIndex = query.runId === undefined || query.action === undefined ? undefined : actionIndexes[query.action];
    if (actionIndex !== undefined) conditions.push(`action = '${query.action}'`);
    else if (query.action !== undefined) (conditions.push('action = @action'), (parameters['action'] = query.action));
    if (query.actorId !== undefined) (conditions.push('actor_id = @actorId'), (parameters['actorId'] = query.actorId));
    // Times are stored as Date#toISOString() text, so text order is time order once the bounds are too.
    if (since !== undefined) (conditions.push('time >= @since'), (parameters['since'] = since));
    if (until !== undefined) (conditions.push('time < @until'), (parameters['until'] = until));
    const byRun = query.runId !== undefined;
    // A run's entries: its index, in run order (the same as seq order), a page of rows at a time.
    // Otherwise the primary key, a window of seq numbers at a time however few of them match.
    const table = actionIndex === undefined ? 'audit_entries' : `audit_entries INDEXED BY ${actionIndex}`;
    const sql = `SELECT body FROM ${table} WHERE ${conditions.join(' AND ')} ORDER BY ${byRun ? 'run_seq LIMIT @limit' : 'seq'}`;
    return this.#pages(this.#prepare(sql), parameters, from, to, byRun);
  }

  *#pages(
    statement: ReturnType<EngineDatabase['prepare']>,
    parameters: Record<string, string | number>,
    from: number,
    to: number,
    byRun: boolean,
  ): Generator<AuditEntry> {
    for (let next = from; next < to;) {
      const upper = byRun ? to : Math.min(to, next + scanWindow);
      const rows = statement.all({ ...parameters, from: next, to: upper, ...(byRun ? { limit: runPageSize } : {}) }) as { body: string }[];
      let last = next - 1;
      for (const row of rows) {
        const entry = JSON.parse(row.body) as AuditEntry;
        last = entry.seq;
        yield entry;
      }
      if (byRun && rows.length < runPageSize) return;
      next = byRun ? last + 1 : upper;
    }
  }

  #prepare(sql: string) {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#database.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}
