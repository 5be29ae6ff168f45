import { flushDeferredWrites } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import type { RunListOptions, RunPage, RunSummary } from '../../records/run-page.ts';
import { runListConditions, runListQuery, runPageOf } from '../shared/run-list-query.ts';

const columns = `run_id AS runId, name, state, spec_digest AS specDigest, substr(idempotency_key, instr(idempotency_key, char(31)) + 1) AS idempotencyKey, submitted_by AS submittedBy,
  submitted_at AS submittedAt, finished_at AS finishedAt, items_total AS itemsTotal, items_finished AS itemsFinished, items_failed AS itemsFailed,
  cancel_requested_by AS cancelRequestedBy, concurrency, priority,
  (SELECT COUNT(*) FROM items WHERE items.run_id = runs.run_id AND items.state = 'succeeded') AS itemsSucceeded,
  (SELECT COUNT(*) FROM audit_entries WHERE audit_entries.run_id = runs.run_id AND audit_entries.action = 'item.reused') AS itemsReused`;

/**
 * Runs newest first, a page at a time, optionally filtered. Each page is one index walk from the
 * cursor on, whatever the history holds: `runs_by_name_newest` for a name, `runs_by_submitter_newest`
 * for a submitter, `runs_by_state_newest` for a state, `runs_newest` (a range of it for times)
 * otherwise; the other filters are checked on the rows the walk meets.
 */
export class RunHistory {
  readonly #database: EngineDatabase;
  readonly #statements = new Map<string, ReturnType<EngineDatabase['prepare']>>();

  constructor(database: EngineDatabase) {
    this.#database = database;
  }

  /** One page of runs. Throws CAIRN_PAYLOAD_INVALID (naming the option) for a bad option. */
  page(options: RunListOptions = {}): RunPage {
    const query = runListQuery(options);
    // Counts added in an open transaction body are written before they are read (DeferredRunCounts).
    flushDeferredWrites(this.#database);
    let count = 0;
    const { conditions, parameters } = runListConditions(query, () => `@p${count++}`);
    const sql = `SELECT ${columns} FROM runs ${conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`} ORDER BY submitted_at DESC, run_id DESC LIMIT @limit`;
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#database.prepare(sql);
      this.#statements.set(sql, statement);
    }
    // One more than asked tells whether another page follows.
    const rows = statement.all({ ...Object.fromEntries(Object.entries(parameters).map(([key, value]) => [key.slice(1), value])), limit: query.limit + 1 });
    return runPageOf(rows as RunSummary[], query.limit, query.filters);
  }
}
