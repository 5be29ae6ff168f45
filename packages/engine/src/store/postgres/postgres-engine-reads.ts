import type { AuditEntry, RunSpecV1 } from '@cairn/core';
import { itemStates, runStates } from '@cairn/protocol';
import pg from 'pg';
import type { EngineReads, GraphItemRecord, GraphItemSelection } from '../engine-reads.ts';
import type { ItemAttemptRecord } from '../../records/attempt-records.ts';
import { graphItemOfRow, itemAttemptOfRow, itemOfRow, type GraphItemRow, type ItemAttemptRow, type ItemRow } from '../shared/stored-records.ts';
import { checkSeqBounds, instant } from '../shared/audit-query-bounds.ts';
import type { AuditQuery } from '../../records/audit-query.ts';
import type { ItemRecord, RunRecord } from '../../records/run-records.ts';
import { runListConditions, runListQuery, runPageOf } from '../shared/run-list-query.ts';
import type { RunListOptions, RunPage, RunSummary } from '../../records/run-page.ts';
import type { StateCounts } from '../../records/state-counts.ts';
import { scheduleRecordOf, type ScheduleRecord, type ScheduleRow } from '../../schedules/schedule-book.ts';
import type { SecretRecord } from '../../secrets/secret-store.ts';
import type { SealedSecret } from '../../records/sealed-secret.ts';
import { describePostgresTarget, parsePostgresStateSettings, postgresClientConfig, type PostgresStateSettings } from './postgres-settings.ts';
import { postgresUnavailable } from './postgres-unavailable.ts';
import type { ItemApprovalRecord } from '../../records/approval-records.ts';
import { approvalVoteColumns, itemApprovalsOf, type ApprovalVoteRow } from '../shared/approval-vote-rows.ts';

/** A pool of reader connections whose `search_path` is the state's schema, and the readers over it. */
export function openPostgresEngineReads(settings: PostgresStateSettings): { readonly reads: PostgresEngineReads; close(): Promise<void> } {
  const resolved = parsePostgresStateSettings(settings);
  const config = postgresClientConfig(resolved, 'reader', { search_path: resolved.schema });
  const pool = new pg.Pool({ ...config, max: 4 });
  // An idle reader whose connection dies is replaced by the pool; its error must not end the process.
  pool.on('error', () => {});
  const failed = `The engine's state in ${describePostgresTarget(new pg.Client(config))} could not be read`;
  const query = (async (sql: string, parameters?: readonly unknown[]) => {
    try {
      return await pool.query(sql, parameters as unknown[]);
    } catch (error) {
      throw postgresUnavailable(error, failed, 'engine.state');
    }
  }) as PostgresQuery;
  return { reads: new PostgresEngineReads(query), close: () => pool.end() };
}

/** Runs a parameterised query ($1, $2 ...) and returns its rows: a `pg` pool's `query`, narrowed. */
export type PostgresQuery = <Row>(sql: string, parameters?: readonly unknown[]) => Promise<{ rows: Row[] }>;

// The same names and shapes the SQLite readers return (run-store.ts, attempt-store.ts): a replica
// answers exactly what the engine's own process would. Counts and big integers are cast to int
// (bigint would come back as text); the idempotency key is shown as it was given (migration 10).
const runColumns = `run_id AS "runId", name, state, spec_digest AS "specDigest",
  CASE WHEN idempotency_key IS NULL THEN NULL ELSE substr(idempotency_key, strpos(idempotency_key, chr(31)) + 1) END AS "idempotencyKey",
  submitted_by AS "submittedBy", submitted_at AS "submittedAt", finished_at AS "finishedAt", items_total::int AS "itemsTotal",
  items_finished::int AS "itemsFinished", items_failed::int AS "itemsFailed", cancel_requested_by AS "cancelRequestedBy", concurrency::int AS concurrency,
  priority::int AS priority`;
const summaryColumns = `${runColumns},
  (SELECT COUNT(*)::int FROM items WHERE items.run_id = runs.run_id AND items.state = 'succeeded') AS "itemsSucceeded",
  (SELECT COUNT(*)::int FROM audit_entries WHERE audit_entries.run_id = runs.run_id AND audit_entries.action = 'item.reused') AS "itemsReused"`;
const itemColumns = `run_id AS "runId", item_id AS "itemId", position::int AS position, state, waiting_on::int AS "waitingOn",
  approval_required::int AS "approvalRequired", ready_at AS "readyAt", cancel_requested_by AS "cancelRequestedBy", failure,
  lock_wait_started_at AS "lockWaitStartedAt", lock_wait_locks AS "lockWaitLocks", priority::int AS priority`;
// As SQLite's (run-store.ts): the dependents as JSON text, through the key of item_edges.
const graphItemColumns = `item_id AS "itemId", position::int AS position, state, spec,
  (SELECT COALESCE(json_agg(dependent), '[]')::text FROM item_edges WHERE item_edges.run_id = items.run_id AND item_edges.prerequisite = items.item_id) AS dependents`;

const parsed = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

/** Rows per page when a query or an event stream walks the log. */
const auditPageSize = 500;

/**
 * What the API reads of the engine's state, from PostgreSQL (ADR 0023): every replica answers from
 * the database, the active one included, so nothing the engine has not committed is ever seen.
 * Each read is one indexed query; none holds a connection across an await of its caller.
 */
export class PostgresEngineReads implements EngineReads {
  readonly #query: PostgresQuery;

  constructor(query: PostgresQuery) {
    this.#query = query;
  }

  async run(runId: string): Promise<RunRecord | undefined> {
    return (await this.#query<RunRecord>(`SELECT ${runColumns} FROM runs WHERE run_id = $1`, [runId])).rows[0];
  }

  /** Runs newest first, a page at a time (the same options, cursors and errors as `Engine.runs`). */
  async runs(options: RunListOptions = {}): Promise<RunPage> {
    const query = runListQuery(options);
    let count = 0;
    const { conditions, parameters } = runListConditions(query, () => `$${++count}`);
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    // One more than asked tells whether another page follows.
    const sql = `SELECT ${summaryColumns} FROM runs ${where} ORDER BY submitted_at DESC, run_id DESC LIMIT $${count + 1}`;
    return runPageOf((await this.#query<RunSummary>(sql, [...Object.values(parameters), query.limit + 1])).rows, query.limit, query.filters);
  }

  async items(runId: string): Promise<ItemRecord[]> {
    const { rows } = await this.#query<ItemRow>(`SELECT ${itemColumns} FROM items WHERE run_id = $1 ORDER BY position`, [runId]);
    return rows.map(itemOfRow);
  }

  async approvals(runId: string): Promise<ItemApprovalRecord[]> {
    const [items, votes] = await Promise.all([
      this.#query<{ itemId: string; spec: string }>(
        'SELECT item_id AS "itemId", spec FROM items WHERE run_id = $1 AND approval_required = 1 ORDER BY position',
        [runId],
      ),
      this.#query<ApprovalVoteRow>(`SELECT ${approvalVoteColumns} FROM approval_votes WHERE run_id = $1 ORDER BY voted_at, voter`, [runId]),
    ]);
    return itemApprovalsOf(items.rows, votes.rows);
  }

  async graphItems(runId: string, selection: GraphItemSelection): Promise<GraphItemRecord[]> {
    const { rows } =
      'itemIds' in selection
        ? await this.#query<GraphItemRow>(`SELECT ${graphItemColumns} FROM items WHERE run_id = $1 AND item_id = ANY($2::text[]) ORDER BY position`, [
            runId,
            selection.itemIds,
          ])
        : await this.#query<GraphItemRow>(`SELECT ${graphItemColumns} FROM items WHERE run_id = $1 AND position > $2 ORDER BY position LIMIT $3`, [
            runId,
            selection.afterPosition,
            selection.limit,
          ]);
    return rows.map(graphItemOfRow);
  }

  async spec(runId: string): Promise<RunSpecV1 | undefined> {
    const row = (await this.#query<{ spec: string }>('SELECT spec FROM run_specs WHERE run_id = $1', [runId])).rows[0];
    return row && (JSON.parse(row.spec) as RunSpecV1);
  }

  async artifacts(runId: string, itemId: string): Promise<Readonly<Record<string, string>> | undefined> {
    const row = (await this.#query<{ artifacts: string | null }>('SELECT artifacts FROM items WHERE run_id = $1 AND item_id = $2', [runId, itemId])).rows[0];
    return parsed<Record<string, string>>(row?.artifacts ?? null) ?? undefined;
  }

  async attempts(runId: string, itemId: string): Promise<ItemAttemptRecord[]> {
    const { rows } = await this.#query<ItemAttemptRow>(
      `SELECT run_id AS "runId", item_id AS "itemId", attempt::int AS attempt, execution_id AS "executionId", state, manifest_digest AS "manifestDigest",
        exit_code::int AS "exitCode", artifacts, dispatched_at AS "dispatchedAt", finished_at AS "finishedAt", failure,
        lock_wait_started_at AS "lockWaitStartedAt", lock_wait_locks AS "lockWaitLocks"
       FROM attempts WHERE run_id = $1 AND item_id = $2 ORDER BY attempt`,
      [runId, itemId],
    );
    return rows.map(itemAttemptOfRow);
  }

  /** Entries in the log: one past the highest committed sequence number (the log is gapless). */
  async auditSize(): Promise<number> {
    return (await this.#query<{ size: number }>('SELECT COALESCE(MAX(seq) + 1, 0)::int AS size FROM audit_entries')).rows[0]!.size;
  }

  /** At most `limit` entries from `fromSeq` on, in order; only those of `actions` when given. */
  async auditPage(fromSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]> {
    return actions === undefined
      ? this.#bodies('SELECT body FROM audit_entries WHERE seq >= $1 ORDER BY seq LIMIT $2', [fromSeq, limit])
      : this.#bodies('SELECT body FROM audit_entries WHERE seq >= $1 AND action = ANY($3::text[]) ORDER BY seq LIMIT $2', [fromSeq, limit, actions]);
  }

  /**
   * A run's entries after global position `afterSeq`, in order, at most `limit`: read through the
   * run's index from the run's last entry at or before the cursor (one writer numbers `seq` and
   * `run_seq` together, so they grow together), not by walking the run's earlier entries each time.
   * Only entries of `actions` when given: skipped entries are neither sent nor parsed.
   */
  async runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): Promise<AuditEntry[]> {
    return this.#bodies(
      `SELECT body FROM audit_entries
       WHERE run_id = $1 AND seq > $2${actions === undefined ? '' : ' AND action = ANY($4::text[])'}
         AND run_seq > COALESCE((SELECT run_seq FROM audit_entries WHERE run_id = $1 AND seq <= $2 ORDER BY run_seq DESC LIMIT 1), -1)
       ORDER BY run_seq LIMIT $3`,
      actions === undefined ? [runId, afterSeq, limit] : [runId, afterSeq, limit, actions],
    );
  }

  /**
   * The entries `query` keeps, in order, a page at a time, up to the log's size when the read
   * starts. Checks the query's fields before the first read (CAIRN_PAYLOAD_INVALID naming one).
   */
  auditQuery(query: AuditQuery = {}): AsyncGenerator<AuditEntry> {
    checkSeqBounds(query);
    const since = instant(query.since, 'since');
    const until = instant(query.until, 'until');
    const conditions = ['seq >= $1', 'seq < $2'];
    const parameters: unknown[] = [query.from ?? 0, query.to ?? Number.MAX_SAFE_INTEGER];
    if (query.runId !== undefined) conditions.push(`run_id = $${parameters.push(query.runId)}`);
    if (query.action !== undefined) conditions.push(`action = $${parameters.push(query.action)}`);
    if (query.actorId !== undefined) conditions.push(`actor_id = $${parameters.push(query.actorId)}`);
    if (since !== undefined) conditions.push(`time >= $${parameters.push(since)}`);
    if (until !== undefined) conditions.push(`time < $${parameters.push(until)}`);
    return this.#auditPages(`SELECT body FROM audit_entries WHERE ${conditions.join(' AND ')} ORDER BY seq LIMIT ${auditPageSize}`, parameters);
  }

  // Pages of a checked query, from its first seq to the log's size when the read starts (entries
  // committed meanwhile are not included, so the read ends).
  async *#auditPages(sql: string, parameters: unknown[]): AsyncGenerator<AuditEntry> {
    parameters[1] = Math.min(parameters[1] as number, await this.auditSize());
    for (;;) {
      const page = await this.#bodies(sql, parameters);
      yield* page;
      if (page.length < auditPageSize) return;
      parameters[0] = page.at(-1)!.seq + 1;
    }
  }

  /** How many runs and items are in each state (what `/metrics` exposes). */
  async counts(): Promise<StateCounts> {
    const [runs, items, ready, live] = await Promise.all([
      this.#query<{ state: string; count: number }>('SELECT state, COUNT(*)::int AS count FROM runs GROUP BY state'),
      this.#query<{ state: string; count: number }>('SELECT state, COUNT(*)::int AS count FROM items GROUP BY state'),
      this.#query<{ count: number }>(`SELECT COUNT(*)::int AS count FROM items WHERE state = 'ready'`),
      this.#query<{ count: number }>(`SELECT COUNT(*)::int AS count FROM attempts WHERE state IN ('dispatching', 'running')`),
    ]);
    const tally = (states: readonly string[], rows: { state: string; count: number }[]) =>
      Object.fromEntries(states.map((state) => [state, rows.find((row) => row.state === state)?.count ?? 0]));
    return {
      runs: tally(runStates, runs.rows) as StateCounts['runs'],
      items: tally(itemStates, items.rows) as StateCounts['items'],
      readyItems: ready.rows[0]!.count,
      liveAttempts: live.rows[0]!.count,
    };
  }

  /** Every schedule, by id. */
  async schedules(): Promise<ScheduleRecord[]> {
    const { rows } = await this.#query<ScheduleRow>(
      `SELECT schedule_id AS "scheduleId", cron, time_zone AS "timeZone", spec, catch_up AS "catchUp", catch_up_max::int AS "catchUpMax", overlap,
        created_by AS "createdBy", created_at AS "createdAt", next_slot AS "nextSlot", last_run_id AS "lastRunId"
       FROM schedules ORDER BY schedule_id`,
    );
    return rows.map(scheduleRecordOf);
  }

  /** Names and versions of the secrets; values are never read. */
  async secrets(): Promise<SecretRecord[]> {
    return (
      await this.#query<SecretRecord>('SELECT name, version::int AS version, updated_at AS "updatedAt", updated_by AS "updatedBy" FROM secrets ORDER BY name')
    ).rows;
  }

  /**
   * The secret named `name` as stored, sealed (undefined: not set): for a replica to open with the
   * deployment's cipher, so every replica can reveal a server secret, not only the one leading.
   */
  async sealedSecret(name: string): Promise<SealedSecret | undefined> {
    return (await this.#query<SealedSecret>('SELECT version::int AS version, envelope FROM secrets WHERE name = $1', [name])).rows[0];
  }

  /** How far anchoring trails the log: entries no anchored checkpoint covers, and checkpoints waiting for their anchors. */
  async anchoringLag(): Promise<{ readonly unanchoredEntries: number; readonly pendingCheckpoints: number }> {
    const [size, lag] = await Promise.all([
      this.auditSize(),
      this.#query<{ anchoredSize: number | null; pending: number }>(
        'SELECT (SELECT MAX(tree_size)::int FROM checkpoints WHERE anchored = 1) AS "anchoredSize", (SELECT COUNT(*)::int FROM checkpoints WHERE anchored = 0) AS pending',
      ),
    ]);
    return { unanchoredEntries: size - (lag.rows[0]!.anchoredSize ?? 0), pendingCheckpoints: lag.rows[0]!.pending };
  }

  async #bodies(sql: string, parameters: readonly unknown[]): Promise<AuditEntry[]> {
    return (await this.#query<{ body: string }>(sql, parameters)).rows.map((row) => JSON.parse(row.body) as AuditEntry);
  }
}
