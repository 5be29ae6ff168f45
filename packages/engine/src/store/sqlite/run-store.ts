import type { AttemptFailure, ItemState, RunState } from '@cairn/core';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { MultiRowInsert } from './multi-row-insert.ts';
import { itemOfRow, type GraphItemRow, type ItemRow } from '../shared/stored-records.ts';
import { runCountsOf, type DeferredRunCounts } from './deferred-run-counts.ts';
import type { ItemRecord, RunProgress, RunRecord } from '../../records/run-records.ts';
import type { GraphItemSelection } from '../engine-reads.ts';
import { dispatchFactColumns, type DispatchFacts } from './dispatch-facts.ts';
import { defaultPriorityAgingSeconds, dispatchOrderSql, type DispatchOrderSettings } from './dispatch-order.ts';
import { itemColumns } from './item-columns.ts';
import { NewItemInsert, type NewItem } from './new-item-insert.ts';
import { ReadyItemPages, type ReadyCandidate } from './ready-item-pages.ts';

// The stored key is scoped to its submitter (migration 10); a run shows the key as it was given.
const runColumns = `run_id AS runId, name, state, spec_digest AS specDigest, substr(idempotency_key, instr(idempotency_key, char(31)) + 1) AS idempotencyKey, submitted_by AS submittedBy,
  submitted_at AS submittedAt, finished_at AS finishedAt, items_total AS itemsTotal, items_finished AS itemsFinished, items_failed AS itemsFailed,
  cancel_requested_by AS cancelRequestedBy, concurrency, priority`;

const graphItemColumns = `item_id AS itemId, position, state, spec,
  (SELECT json_group_array(dependent) FROM item_edges WHERE item_edges.run_id = items.run_id AND item_edges.prerequisite = items.item_id) AS dependents`;

/** Edges one statement inserts at most (3 values each). */
const maxEdgesPerInsert = 128;

/**
 * The rows of runs, items and dependency edges, behind prepared statements. Every query the
 * scheduler runs on a hot path is an index lookup: the work of one decision does not grow with
 * the history stored.
 */
export class RunStore {
  readonly #statements;

  readonly #itemInsert: NewItemInsert;
  readonly #edgeInsert: MultiRowInsert<string>;
  /** The runs' finished counts added in the open transaction body, shared by every store of the database. */
  readonly #counts: DeferredRunCounts;
  readonly #readyPages: ReadyItemPages;
  readonly #priorityAgingMs: number;

  constructor(database: EngineDatabase, order: DispatchOrderSettings = { priorityAgingMs: defaultPriorityAgingSeconds * 1_000 }) {
    this.#priorityAgingMs = order.priorityAgingMs;
    this.#counts = runCountsOf(database);
    this.#readyPages = new ReadyItemPages(database);
    this.#itemInsert = new NewItemInsert(database, order.priorityAgingMs);
    this.#edgeInsert = new MultiRowInsert(database, 'INSERT OR IGNORE INTO item_edges (run_id, prerequisite, dependent)', 3, maxEdgesPerInsert);
    const prepare = database.prepare.bind(database);
    this.#statements = {
      insertRun: prepare(
        `INSERT INTO runs (run_id, name, state, spec_digest, idempotency_key, submitted_by, submitted_at, items_total, workspace, concurrency, priority)
         VALUES (@runId, @name, 'queued', @specDigest, @idempotencyKey, @submittedBy, @submittedAt, @itemsTotal, @workspace, @concurrency, @priority)`,
      ),
      insertSpec: prepare('INSERT INTO run_specs (run_id, spec) VALUES (?, ?)'),
      spec: prepare<[string], { spec: string }>('SELECT spec FROM run_specs WHERE run_id = ?'),
      // The run's workspace by a subquery, not a JOIN of runs: the same row (an item's run always
      // exists), and a chain reads it once a hop, where the JOIN took about five times the CPU.
      itemSpec: prepare<[string, string], { spec: string; executor: string; workspace: string | null }>(
        'SELECT items.spec, items.executor, (SELECT runs.workspace FROM runs WHERE runs.run_id = items.run_id) AS workspace FROM items WHERE run_id = ? AND item_id = ?',
      ),
      // One point read of the item with its scalar subqueries (`dispatchFactColumns`).
      dispatchFacts: prepare<[string, string], DispatchFacts>(
        `SELECT ${dispatchFactColumns}, items.lock_wait_started_at AS lockWaitStartedAt, items.lock_wait_locks AS lockWaitLocks FROM items WHERE run_id = ? AND item_id = ?`,
      ),
      startLockWait: prepare(
        'UPDATE items SET lock_wait_started_at = ?, lock_wait_locks = ? WHERE run_id = ? AND item_id = ? AND lock_wait_started_at IS NULL',
      ),
      endLockWait: prepare('UPDATE items SET lock_wait_started_at = NULL, lock_wait_locks = NULL WHERE run_id = ? AND item_id = ?'),
      addItems: prepare('UPDATE runs SET items_total = items_total + ? WHERE run_id = ?'),
      addWaits: prepare('UPDATE items SET waiting_on = waiting_on + ? WHERE run_id = ? AND item_id = ?'),
      parkReady: prepare("UPDATE items SET ready_at = NULL, dispatch_order = NULL WHERE run_id = ? AND item_id = ? AND state = 'ready'"),
      // The order as `dispatchOrderOf` computes it, from the row's own priority.
      unparkReady: prepare(
        `UPDATE items SET ready_at = @readyAt, dispatch_order = ${dispatchOrderSql} WHERE run_id = @runId AND state = 'ready' AND ready_at IS NULL`,
      ),
      runById: prepare<[string], RunRecord>(`SELECT ${runColumns} FROM runs WHERE run_id = ?`),
      runConcurrency: prepare<[string], { concurrency: number | null }>('SELECT concurrency FROM runs WHERE run_id = ?'),
      runByKey: prepare<[string], RunRecord>(`SELECT ${runColumns} FROM runs WHERE idempotency_key = ?`),
      item: prepare<[string, string], ItemRow>(`SELECT ${itemColumns} FROM items WHERE run_id = ? AND item_id = ?`),
      // The item, and whether any item depends on it (one index probe of item_edges' key).
      itemWithDependents: prepare<[string, string], ItemRow & { hasDependents: number }>(
        `SELECT ${itemColumns}, EXISTS (SELECT 1 FROM item_edges WHERE item_edges.run_id = items.run_id AND item_edges.prerequisite = items.item_id) AS hasDependents
         FROM items WHERE run_id = ? AND item_id = ?`,
      ),
      items: prepare<[string], ItemRow>(`SELECT ${itemColumns} FROM items WHERE run_id = ? ORDER BY position`),
      dependents: prepare<[string, string], { dependent: string }>('SELECT dependent FROM item_edges WHERE run_id = ? AND prerequisite = ?'),
      // What a graph of the run shows of an item: each with its dependents (one range of item_edges'
      // key), as a JSON array. Not on any hot path: the page's ORDER BY position sorts the run's items.
      graphItemsAfter: prepare<[string, number, number], GraphItemRow>(
        `SELECT ${graphItemColumns} FROM items WHERE run_id = ? AND position > ? ORDER BY position LIMIT ?`,
      ),
      graphItemsNamed: prepare<[string, string], GraphItemRow>(
        `SELECT ${graphItemColumns} FROM items WHERE run_id = ? AND item_id IN (SELECT value FROM json_each(?)) ORDER BY position`,
      ),
      setItemState: prepare('UPDATE items SET state = ?, ready_at = COALESCE(?, ready_at) WHERE run_id = ? AND item_id = ?'),
      // Ready again at a new time: its place in the dispatch order as `dispatchOrderOf` computes it, from the row's own priority.
      setItemReady: prepare(
        `UPDATE items SET state = 'ready', ready_at = @readyAt, dispatch_order = ${dispatchOrderSql} WHERE run_id = @runId AND item_id = @itemId`,
      ),
      // A planner's fragment's roots released at once (FragmentJoin): those still blocked on nothing and needing no approval.
      releaseRoots: prepare<Record<string, string | number>, { item_id: string }>(
        `UPDATE items SET state = 'ready', ready_at = @readyAt, dispatch_order = ${dispatchOrderSql}
          WHERE run_id = @runId AND item_id IN (SELECT value FROM json_each(@itemIds)) AND state = 'blocked' AND waiting_on = 0 AND approval_required = 0
          RETURNING item_id`,
      ),
      // The item as updated, in the same statement: a dependent released next needs it, not read again.
      decrementWaiting: prepare<[string, string], ItemRow>(
        `UPDATE items SET waiting_on = waiting_on - 1 WHERE run_id = ? AND item_id = ? RETURNING ${itemColumns}`,
      ),
      startIfReady: prepare<[string, string], { runState: RunState }>(
        `UPDATE items SET state = 'running' WHERE run_id = ? AND item_id = ? AND state = 'ready'
         RETURNING (SELECT runs.state FROM runs WHERE runs.run_id = items.run_id) AS runState`,
      ),
      setRunState: prepare('UPDATE runs SET state = ?, finished_at = ? WHERE run_id = ?'),
      requestCancel: prepare('UPDATE runs SET cancel_requested_by = COALESCE(cancel_requested_by, ?) WHERE run_id = ?'),
      readyItems: prepare<[string, number], ItemRow>(
        `SELECT ${itemColumns} FROM items WHERE state = 'ready' AND dispatch_order IS NOT NULL AND ready_at <= ? ORDER BY dispatch_order, rowid LIMIT ?`,
      ),
      nextReadyAt: prepare<[string], { readyAt: string | null }>(`SELECT MIN(ready_at) AS readyAt FROM items WHERE state = 'ready' AND ready_at > ?`),
      requestItemCancel: prepare('UPDATE items SET cancel_requested_by = COALESCE(cancel_requested_by, ?) WHERE run_id = ? AND item_id = ?'),
      setApprovalDeadline: prepare('UPDATE items SET approval_deadline = ? WHERE run_id = ? AND item_id = ?'),
      expiredApprovals: prepare<[string, number], ItemRow>(
        `SELECT ${itemColumns} FROM items WHERE state = 'awaiting-approval' AND approval_deadline <= ? ORDER BY approval_deadline LIMIT ?`,
      ),
      nextApprovalDeadline: prepare<[], { deadline: string | null }>(`SELECT MIN(approval_deadline) AS deadline FROM items WHERE state = 'awaiting-approval'`),
      setArtifacts: prepare('UPDATE items SET artifacts = ? WHERE run_id = ? AND item_id = ?'),
      succeedIfRunning: prepare<[string, string, string], { hasDependents: number }>(
        `UPDATE items SET state = 'succeeded', artifacts = ? WHERE run_id = ? AND item_id = ? AND state = 'running'
         RETURNING EXISTS (SELECT 1 FROM item_edges WHERE item_edges.run_id = items.run_id AND item_edges.prerequisite = items.item_id) AS hasDependents`,
      ),
      setFailure: prepare('UPDATE items SET failure = ? WHERE run_id = ? AND item_id = ?'),
      artifacts: prepare<[string, string], { artifacts: string | null }>('SELECT artifacts FROM items WHERE run_id = ? AND item_id = ?'),
    };
  }

  insertRun(run: {
    runId: string;
    name: string;
    spec: string;
    specDigest: string;
    idempotencyKey: string | null;
    submittedBy: string;
    submittedAt: string;
    itemsTotal: number;
    workspace: string | null;
    concurrency: number | null;
    priority: number;
  }): void {
    const { spec, ...row } = run;
    this.#statements.insertRun.run(row);
    this.#statements.insertSpec.run(run.runId, spec);
  }

  /**
   * Inserts a run's items, up to 64 a statement (`NewItemInsert`: a 10,000-item run in 157
   * statements, not 10,000). An item is stored `blocked`, or already `ready` (due at `readyAt`)
   * when the caller releases it at once: one write of the row instead of an insert and an update.
   */
  insertItems(items: readonly NewItem[]): void {
    this.#itemInsert.run(items);
  }

  /** The item's spec (defaults applied, canonical JSON), its executor and its run's workspace, for dispatch. */
  itemSpec(runId: string, itemId: string): { spec: string; executor: string; workspace: string | null } | undefined {
    return this.#statements.itemSpec.get(runId, itemId);
  }

  /**
   * What a dispatch needs, in one read: `itemSpec`, and the number of the item's next attempt —
   * one past its last recorded one (1 for the first), so a dispatch that never committed burns no
   * number. Counted, not the maximum: every attempt is numbered here, from 1 with no gap, and
   * none is ever deleted, so the count is the last number (were that ever broken, the attempt's
   * insert would fail on its primary key rather than reuse a number).
   */
  dispatchFacts(runId: string, itemId: string): DispatchFacts | undefined {
    return this.#statements.dispatchFacts.get(runId, itemId);
  }

  /** A dispatch pass found the ready item held back by these locks: recorded once per wait (a wait already recorded is kept). */
  startLockWait(runId: string, itemId: string, startedAt: string, locks: readonly string[]): void {
    this.#statements.startLockWait.run(startedAt, JSON.stringify(locks), runId, itemId);
  }

  /** The run holds `count` more items (a planner's, inserted with `insertItems`). */
  addItems(runId: string, count: number): void {
    // Counts added in memory hold the total as read: written first, and read afresh after.
    this.#counts.flush();
    this.#statements.addItems.run(count, runId);
  }

  /** The item waits for `count` more prerequisites (a planner's items, joined before its dependents). */
  addWaits(runId: string, itemId: string, count: number): void {
    this.#statements.addWaits.run(count, runId, itemId);
  }

  /**
   * A ready item set aside (no ready time): dispatch passes do not read it until `unparkReady` gives
   * it one again. The agent items of a run awaiting a budget raise wait so, out of other runs' way.
   */
  parkReady(runId: string, itemId: string): void {
    this.#statements.parkReady.run(runId, itemId);
  }

  /** The run's set-aside ready items are ready again, from `now`. */
  unparkReady(runId: string, now: string): void {
    this.#statements.unparkReady.run({ readyAt: now, readyAtMs: Date.parse(now), agingMs: this.#priorityAgingMs, runId });
  }

  /** The item's lock wait ended with its dispatch (the attempt keeps it). */
  endLockWait(runId: string, itemId: string): void {
    this.#statements.endLockWait.run(runId, itemId);
  }

  /** Inserts a run's dependency edges (prerequisite, dependent), up to `maxEdgesPerInsert` a statement; a pair given twice is stored once. */
  insertEdges(runId: string, edges: readonly (readonly [prerequisite: string, dependent: string])[]): void {
    const values: string[] = [];
    for (const [prerequisite, dependent] of edges) values.push(runId, prerequisite, dependent);
    this.#edgeInsert.run(values);
  }

  /** The run's spec as submitted (canonical JSON). */
  spec(runId: string): string | undefined {
    return this.#statements.spec.get(runId)?.spec;
  }

  run(runId: string): RunRecord | undefined {
    this.#counts.flush();
    return this.#statements.runById.get(runId);
  }

  /**
   * The run's own limit on its live attempts (null: none), undefined for no such run. One column,
   * and no deferred counts written first (they do not touch it): a dispatch's choice asks it of
   * each run it takes from, once a hop of a chain.
   */
  runConcurrency(runId: string): number | null | undefined {
    return this.#statements.runConcurrency.get(runId)?.concurrency;
  }

  runByIdempotencyKey(key: string): RunRecord | undefined {
    this.#counts.flush();
    return this.#statements.runByKey.get(key);
  }

  item(runId: string, itemId: string): ItemRecord | undefined {
    const row = this.#statements.item.get(runId, itemId);
    return row && itemOfRow(row);
  }

  /**
   * `item`, and whether another item depends on it, in one read: finishing an item that nothing
   * depends on (every item of a fan-out) need not look its dependents up.
   */
  itemWithDependents(runId: string, itemId: string): (ItemRecord & { readonly hasDependents: boolean }) | undefined {
    const row = this.#statements.itemWithDependents.get(runId, itemId);
    if (row === undefined) return undefined;
    const { hasDependents, ...item } = row;
    return { ...itemOfRow(item), hasDependents: hasDependents === 1 };
  }

  items(runId: string): ItemRecord[] {
    return this.#statements.items.all(runId).map(itemOfRow);
  }

  dependents(runId: string, itemId: string): string[] {
    return this.#statements.dependents.all(runId, itemId).map((row) => row.dependent);
  }

  /** A page of the run's items by position, or those of `itemIds` it holds, with their specs and dependents (`EngineReads.graphItems`). */
  graphItems(runId: string, selection: GraphItemSelection): GraphItemRow[] {
    return 'itemIds' in selection
      ? this.#statements.graphItemsNamed.all(runId, JSON.stringify(selection.itemIds))
      : this.#statements.graphItemsAfter.all(runId, selection.afterPosition, selection.limit);
  }

  /** Moves the item to `state`; to `ready`, due at `readyAt` (which places it in the dispatch order: `dispatchOrderOf`). */
  setItemState(runId: string, itemId: string, state: ItemState, readyAt: string | null = null): void {
    if (state === 'ready' && readyAt !== null)
      this.#statements.setItemReady.run({ readyAt, readyAtMs: Date.parse(readyAt), agingMs: this.#priorityAgingMs, runId, itemId });
    else this.#statements.setItemState.run(state, readyAt, runId, itemId);
  }

  /**
   * Moves those of `itemIds` still blocked on nothing, needing no approval, to ready at `readyAt`
   * (in the dispatch order), in one statement; returns the ids it moved. A planner's fragment's
   * roots, inserted blocked while the fragment joined (`FragmentJoin`), are released so.
   */
  releaseRoots(runId: string, itemIds: readonly string[], readyAt: string): Set<string> {
    const rows = this.#statements.releaseRoots.all({
      runId,
      itemIds: JSON.stringify(itemIds),
      readyAt,
      readyAtMs: Date.parse(readyAt),
      agingMs: this.#priorityAgingMs,
    });
    return new Set(rows.map((row) => row.item_id));
  }

  /** One prerequisite of the item succeeded; returns the item as it is now (`waitingOn` the prerequisites it still waits on). */
  prerequisiteSucceeded(runId: string, itemId: string): ItemRecord {
    return itemOfRow(this.#statements.decrementWaiting.get(runId, itemId)!);
  }

  /**
   * A ready item starts running; returns its run's state, or undefined (nothing written) when the
   * item is not ready or does not exist.
   */
  startIfReady(runId: string, itemId: string): RunState | undefined {
    return this.#statements.startIfReady.get(runId, itemId)?.runState;
  }

  setRunState(runId: string, state: RunState, finishedAt: string | null = null): void {
    // The counts first: the progress they answer from holds the run's state as it was.
    this.#counts.flush();
    this.#statements.setRunState.run(state, finishedAt, runId);
  }

  /** Records who asked to cancel the run (the first request stands). */
  requestCancel(runId: string, actor: string): void {
    this.#counts.flush();
    this.#statements.requestCancel.run(actor, runId);
  }

  /** Counts one more finished item (and whether it failed); returns the run's updated progress (`DeferredRunCounts`). */
  itemFinished(runId: string, failed: boolean): RunProgress {
    return this.#counts.itemFinished(runId, failed)!;
  }

  /** The items ready by `now` across runs, in dispatch order (`dispatchOrderOf`): highest effective priority first, FIFO within one. */
  readyItems(limit: number, now: string): ItemRecord[] {
    return this.#statements.readyItems.all(now, limit).map(itemOfRow);
  }

  /**
   * `readyItems(limit, now)`, the same items in the same order, each with its `dispatchFacts` read
   * in the same statement, `pageSize` rows at a time as the caller takes them: a caller that stops
   * early (a dispatch pass that is full) reads no more pages. Each page is read whole, so the
   * caller may run other statements between items.
   */
  readyCandidatesInPages(limit: number, pageSize: number, now: string): Generator<ReadyCandidate> {
    return this.#readyPages.read(limit, pageSize, now);
  }

  /** Records who asked to cancel the running item (the first request stands). */
  requestItemCancel(runId: string, itemId: string, actor: string): void {
    this.#statements.requestItemCancel.run(actor, runId, itemId);
  }

  /** An awaiting item's approval times out at `deadline`. */
  setApprovalDeadline(runId: string, itemId: string, deadline: string): void {
    this.#statements.setApprovalDeadline.run(deadline, runId, itemId);
  }

  /** Awaiting items whose approval deadline has passed by `now`, oldest deadline first. */
  expiredApprovals(now: string, limit: number): ItemRecord[] {
    return this.#statements.expiredApprovals.all(now, limit).map(itemOfRow);
  }

  /** The earliest approval deadline of an awaiting item, if any. */
  nextApprovalDeadline(): string | null {
    return this.#statements.nextApprovalDeadline.get()!.deadline;
  }

  /** Records what a succeeded item produced (kind → digest). */
  setArtifacts(runId: string, itemId: string, artifacts: Readonly<Record<string, string>>): void {
    this.#statements.setArtifacts.run(JSON.stringify(artifacts), runId, itemId);
  }

  /**
   * A running item succeeded and produced these artifacts (kind → digest): both in one write,
   * which answers whether another item depends on it. Undefined (nothing written) when the item
   * is not running or does not exist.
   */
  succeedIfRunning(runId: string, itemId: string, artifacts: Readonly<Record<string, string>>): { readonly hasDependents: boolean } | undefined {
    const row = this.#statements.succeedIfRunning.get(JSON.stringify(artifacts), runId, itemId);
    return row === undefined ? undefined : { hasDependents: row.hasDependents === 1 };
  }

  /** Records why the item's latest attempt failed (or why it could not be dispatched); null clears it. */
  setFailure(runId: string, itemId: string, failure: AttemptFailure | null): void {
    this.#statements.setFailure.run(failure === null ? null : JSON.stringify(failure), runId, itemId);
  }

  /** What a succeeded item produced, whether it ran or reused a pure result. */
  artifacts(runId: string, itemId: string): Record<string, string> | undefined {
    const text = this.#statements.artifacts.get(runId, itemId)?.artifacts;
    return text ? (JSON.parse(text) as Record<string, string>) : undefined;
  }

  /** When the next ready item due after `after` becomes due (a retry waiting out its backoff), if any. */
  nextReadyAt(after: string): string | null {
    return this.#statements.nextReadyAt.get(after)!.readyAt;
  }
}
