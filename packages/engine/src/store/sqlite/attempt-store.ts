import type { AttemptFailure, AttemptState, ExecutionHandle } from '@cairn/core';
import type { ItemAttemptRecord, LockWait } from '../../records/attempt-records.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { itemAttemptOfRow, type ItemAttemptRow } from '../shared/stored-records.ts';

/** An attempt as the engine stores it. */
export interface AttemptRecord {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly fencingToken: number;
  readonly executionId: string;
  readonly executor: string;
  readonly state: AttemptState;
  readonly manifestDigest: string;
  /** The executor's handle, persisted so a restarted engine can re-attach. */
  readonly handle: ExecutionHandle | null;
  /** When the attempt was dispatched (ISO 8601). */
  readonly dispatchedAt: string;
  /** When the attempt must have ended (dispatch time + the item's timeout). */
  readonly deadline: string | null;
  /** Why the engine wants the task stopped (`timeout`, `cancel`), once it does. */
  readonly stopReason: 'timeout' | 'cancel' | null;
  /** Whether the executor was already asked to stop it. */
  readonly stopSent: boolean;
  /** A pure item's input digest: its success is recorded for reuse under it. */
  readonly inputDigest: string | null;
  /** The runtime's exit code, once the attempt ended (null when it never exited by itself). */
  readonly exitCode: number | null;
  /** When the attempt ended (ISO 8601), null while it is live. */
  readonly finishedAt: string | null;
  /** Why it did not succeed, once it ended without success; null while live and when it succeeded. */
  readonly failure: AttemptFailure | null;
  /**
   * Whether its item's spec may declare `emits` (a planner, ADR 0034), read with the attempt from
   * the item's row: only then does recording its success read the spec to check its fragment.
   */
  readonly itemMayEmit: boolean;
  /**
   * Whether its item's spec may declare `candidates` (best of N, ADR 0053), read the same way: only
   * then does recording its end read the spec to decide the round.
   */
  readonly itemHasCandidates: boolean;
}

type AttemptRow = Omit<AttemptRecord, 'handle' | 'stopSent' | 'failure' | 'itemMayEmit' | 'itemHasCandidates'> & {
  handle: string | null;
  stopSent: number;
  failure: string | null;
  /** 1: the spec may declare `emits`; 2: `candidates` (both read in one probe of the item's row). */
  itemFlags: number;
};

// Whether the item may be a planner, from its row (a primary-key probe inside the attempt's own
// read): every success is recorded from this read, and a statement of its own for the item's spec
// would be one more for every item of a fan-out. The spec is canonical JSON, so a member `emits`
// is written `"emits":{`; a string value holding that text only costs the spec's read. The item's
// row, not a flag kept in memory: on PostgreSQL a follower that takes over has items that
// replication, not this process, wrote.
const columns = `run_id AS runId, item_id AS itemId, attempt, fencing_token AS fencingToken, execution_id AS executionId, executor, state,
  manifest_digest AS manifestDigest, handle, dispatched_at AS dispatchedAt, deadline, stop_reason AS stopReason, stop_sent AS stopSent, input_digest AS inputDigest,
  exit_code AS exitCode, finished_at AS finishedAt, failure,
  (SELECT (instr(items.spec, '"emits":{') > 0) + 2 * (instr(items.spec, '"candidates":{') > 0) FROM items WHERE items.run_id = attempts.run_id AND items.item_id = attempts.item_id) AS itemFlags`;

const toAttempt = ({ itemFlags, ...row }: AttemptRow): AttemptRecord => ({
  ...row,
  handle: row.handle === null ? null : (JSON.parse(row.handle) as ExecutionHandle),
  stopSent: row.stopSent === 1,
  failure: row.failure === null ? null : (JSON.parse(row.failure) as AttemptFailure),
  itemMayEmit: (itemFlags & 1) === 1,
  itemHasCandidates: (itemFlags & 2) === 2,
});

/** Attempts and their executor handles. Live attempts are found by a partial index. */
export class AttemptStore {
  readonly #statements;

  constructor(database: EngineDatabase) {
    const prepare = database.prepare.bind(database);
    this.#statements = {
      insert: prepare(
        `INSERT INTO attempts (run_id, item_id, attempt, fencing_token, execution_id, executor, state, manifest_digest, dispatched_at, deadline, queue, input_digest,
           lock_wait_started_at, lock_wait_locks)
         VALUES (?, ?, ?, ?, ?, ?, 'dispatching', ?, ?, ?, ?, ?, ?, ?)`,
      ),
      started: prepare(`UPDATE attempts SET state = 'running', handle = ? WHERE execution_id = ?`),
      // The handle too when the start left the row to the end (null keeps the one stored).
      finished: prepare(
        'UPDATE attempts SET state = ?, exit_code = ?, artifacts = ?, finished_at = ?, failure = ?, handle = COALESCE(?, handle) WHERE execution_id = ?',
      ),
      live: prepare<[], AttemptRow>(`SELECT ${columns} FROM attempts WHERE state IN ('dispatching', 'running') ORDER BY dispatched_at`),
      requestStop: prepare(`UPDATE attempts SET stop_reason = COALESCE(stop_reason, ?) WHERE execution_id = ?`),
      requestStopForItem: prepare(
        `UPDATE attempts SET stop_reason = COALESCE(stop_reason, 'cancel') WHERE run_id = ? AND item_id = ? AND state IN ('dispatching', 'running')`,
      ),
      stopSent: prepare('UPDATE attempts SET stop_sent = 1 WHERE execution_id = ?'),
      byExecutionId: prepare<[string], AttemptRow>(`SELECT ${columns} FROM attempts WHERE execution_id = ?`),
      liveCounts: prepare<[], { runId: string; queue: string | null; count: number }>(
        `SELECT run_id AS runId, queue, COUNT(*) AS count FROM attempts WHERE state IN ('dispatching', 'running') GROUP BY run_id, queue`,
      ),
      ofItem: prepare<[string, string], ItemAttemptRow>(
        `SELECT run_id AS runId, item_id AS itemId, attempt, execution_id AS executionId, state, manifest_digest AS manifestDigest, exit_code AS exitCode, artifacts, dispatched_at AS dispatchedAt, finished_at AS finishedAt, failure,
           lock_wait_started_at AS lockWaitStartedAt, lock_wait_locks AS lockWaitLocks
         FROM attempts WHERE run_id = ? AND item_id = ? ORDER BY attempt`,
      ),
      lostBefore: prepare<[string, string, number], { count: number }>(
        `SELECT COUNT(*) AS count FROM attempts WHERE run_id = ? AND item_id = ? AND attempt < ? AND state = 'lost'`,
      ),
    };
  }

  insert(attempt: {
    runId: string;
    itemId: string;
    attempt: number;
    fencingToken: number;
    executionId: string;
    executor: string;
    manifestDigest: string;
    dispatchedAt: string;
    deadline: string;
    queue: string | null;
    inputDigest: string | null;
    /** The item's lock wait before this dispatch, if it had one. */
    lockWait: LockWait | null;
  }): void {
    // Bound by position: once per dispatch, and binding by name costs a lookup a parameter.
    const { lockWait } = attempt;
    this.#statements.insert.run(
      attempt.runId,
      attempt.itemId,
      attempt.attempt,
      attempt.fencingToken,
      attempt.executionId,
      attempt.executor,
      attempt.manifestDigest,
      attempt.dispatchedAt,
      attempt.deadline,
      attempt.queue,
      attempt.inputDigest,
      lockWait?.startedAt ?? null,
      lockWait === null ? null : JSON.stringify(lockWait.locks),
    );
  }

  started(executionId: string, handle: ExecutionHandle): void {
    this.#statements.started.run(JSON.stringify(handle), executionId);
  }

  finished(
    executionId: string,
    state: AttemptState,
    exitCode: number | null,
    artifacts: Record<string, string> | null,
    finishedAt: string,
    failure: AttemptFailure | null,
    /** Given when its start, in the same transaction, left the row to this write: the start's handle. */
    handle?: ExecutionHandle,
  ): void {
    this.#statements.finished.run(
      state,
      exitCode,
      artifacts === null ? null : JSON.stringify(artifacts),
      finishedAt,
      failure === null ? null : JSON.stringify(failure),
      handle === undefined ? null : JSON.stringify(handle),
      executionId,
    );
  }

  /** The item's attempts, first to last (the primary key's order: one index range). */
  live(): AttemptRecord[] {
    return this.#statements.live.all().map(toAttempt);
  }

  byExecutionId(executionId: string): AttemptRecord | undefined {
    const row = this.#statements.byExecutionId.get(executionId);
    return row && toAttempt(row);
  }

  /** The item's attempts, first to last (through the primary key). */
  ofItem(runId: string, itemId: string): ItemAttemptRecord[] {
    return this.#statements.ofItem.all(runId, itemId).map(itemAttemptOfRow);
  }

  /** The item's live attempt is to be cancelled. */
  requestStopForItem(runId: string, itemId: string): void {
    this.#statements.requestStopForItem.run(runId, itemId);
  }

  /** The engine wants the attempt stopped; the first reason given stands. */
  requestStop(executionId: string, reason: 'timeout' | 'cancel'): void {
    this.#statements.requestStop.run(reason, executionId);
  }

  /** The executor was asked to stop the attempt. */
  markStopSent(executionId: string): void {
    this.#statements.stopSent.run(executionId);
  }

  /**
   * Live attempts by run (their sum all the live ones) and by queue (of those that name one), in
   * one read of the live rows through the partial index: a dispatch pass reads them every round,
   * and on a chain of quick items each statement of a round is a share of the hop.
   */
  liveCounts(): { readonly byRun: Map<string, number>; readonly byQueue: Map<string, number> } {
    const byRun = new Map<string, number>();
    const byQueue = new Map<string, number>();
    for (const { runId, queue, count } of this.#statements.liveCounts.all()) {
      byRun.set(runId, (byRun.get(runId) ?? 0) + count);
      if (queue !== null) byQueue.set(queue, (byQueue.get(queue) ?? 0) + count);
    }
    return { byRun, byQueue };
  }

  /** How many of the item's attempts before `attempt` were lost (read only when an attempt ends badly). */
  lostBefore(runId: string, itemId: string, attempt: number): number {
    return this.#statements.lostBefore.get(runId, itemId, attempt)!.count;
  }
}
