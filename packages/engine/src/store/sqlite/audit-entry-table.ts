import type { AuditEntry } from '@cairn/core';
import { DeferredRowInsert } from './deferred-row-insert.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/**
 * A run's entries after the global position `seq` (parameters: run, seq, run, seq, limit). A
 * run's `run_seq` grows with `seq` (one writer numbers both), so the entries after `seq` are those
 * after the run's last entry at or before it: found by walking the run's index back from its end
 * (as far as the entries not yet read), then read forward from there. Filtering `seq > ?` over the
 * index in `run_seq` order instead read every earlier entry of the run again on each call, which
 * made following a 10,000-item run's events quadratic.
 */
export const runEntriesAfterSql = `SELECT body FROM audit_entries
  WHERE run_id = ? AND seq > ?
    AND run_seq > COALESCE((SELECT run_seq FROM audit_entries WHERE run_id = ? AND seq <= ? ORDER BY run_seq DESC LIMIT 1), -1)
  ORDER BY run_seq LIMIT ?`;

/**
 * `runEntriesAfterSql` keeping only entries of some actions (parameters: run, seq, actions as a
 * JSON array, run, seq, limit): the filter is the query's, so the entries it skips are neither
 * read out nor parsed (a run's `run.state` stream skipped 50,000 item entries one by one).
 */
export const runEntriesOfActionsAfterSql = `SELECT body FROM audit_entries
  WHERE run_id = ? AND seq > ? AND action IN (SELECT value FROM json_each(?))
    AND run_seq > COALESCE((SELECT run_seq FROM audit_entries WHERE run_id = ? AND seq <= ? ORDER BY run_seq DESC LIMIT 1), -1)
  ORDER BY run_seq LIMIT ?`;

/** A column value of an `audit_entries` row. */
type AuditRowValue = number | string | null;
/** Columns of an `audit_entries` row as the log writes it. */
const auditRowWidth = 9;
/**
 * Entries a transaction keeps in memory at most: a larger one (a submit of 100,000 items) writes
 * them as it goes, in its transaction still, so its memory does not grow with its size.
 */
const maxPendingRows = 4_096;
/** Entries one statement writes at most (9 values each, far below SQLite's limit on values). */
const maxRowsPerInsert = 64;

/**
 * The audit log's entries, a row of `audit_entries` each, its canonical JSON (`body`, the text the
 * Merkle leaf hashes) beside the columns reads filter on. Inside a transaction the rows wait in
 * memory for the end of its body and are written then, many a statement (`DeferredRowInsert`):
 * whoever reads inside a transaction writes them first (`WorkingCopy.flushDeferredWrites`).
 */
export class AuditEntryTable {
  readonly #rows: DeferredRowInsert<AuditRowValue>;
  readonly #nextRunSeq;
  readonly #fromSeq;
  readonly #fromSeqOfActions;
  readonly #ofRun;
  readonly #ofRunAfter;
  readonly #ofRunOfActionsAfter;
  readonly #timeAt;
  readonly #runEndFrom;
  readonly #lastSignerRotationFrom;

  constructor(database: EngineDatabase) {
    this.#rows = new DeferredRowInsert(
      database,
      'INSERT INTO audit_entries (seq, run_id, run_seq, time, action, entity_kind, outcome, actor_id, body)',
      auditRowWidth,
      maxRowsPerInsert,
      maxPendingRows,
    );
    this.#nextRunSeq = database.prepare<[string], { next: number }>('SELECT COALESCE(MAX(run_seq) + 1, 0) AS next FROM audit_entries WHERE run_id = ?');
    this.#fromSeq = database.prepare<[number, number], { body: string }>('SELECT body FROM audit_entries WHERE seq >= ? ORDER BY seq LIMIT ?');
    this.#fromSeqOfActions = database.prepare<[number, string, number], { body: string }>(
      'SELECT body FROM audit_entries WHERE seq >= ? AND action IN (SELECT value FROM json_each(?)) ORDER BY seq LIMIT ?',
    );
    this.#ofRun = database.prepare<[string], { body: string }>('SELECT body FROM audit_entries WHERE run_id = ? ORDER BY run_seq');
    this.#ofRunAfter = database.prepare<[string, number, string, number, number], { body: string }>(runEntriesAfterSql);
    this.#ofRunOfActionsAfter = database.prepare<[string, number, string, string, number, number], { body: string }>(runEntriesOfActionsAfterSql);
    this.#timeAt = database.prepare<[number], { time: string }>('SELECT time FROM audit_entries WHERE seq = ?');
    this.#runEndFrom = database.prepare<[number], { seq: number }>(
      `SELECT seq FROM audit_entries WHERE seq >= ? AND action IN ('run.succeeded', 'run.failed', 'run.cancelled') LIMIT 1`,
    );
    // By seq from a tree size: the primary key's range, not a scan of the log.
    this.#lastSignerRotationFrom = database.prepare<[number], { body: string }>(
      `SELECT body FROM audit_entries WHERE seq >= ? AND action = 'signer.rotated' ORDER BY seq DESC LIMIT 1`,
    );
  }

  /** Adds `entry`, whose canonical JSON is `body`: deferred to the end of the transaction body, when one runs. */
  add(entry: AuditEntry, body: string): void {
    this.#rows.add([entry.seq, entry.runId ?? null, entry.runSeq ?? null, entry.time, entry.action, entry.entity.kind, entry.outcome, entry.actor.id, body]);
  }

  /** The `runSeq` the next entry of run `runId` takes: one past its last, 0 for a run with none. */
  nextRunSeq(runId: string): number {
    return this.#nextRunSeq.get(runId)!.next;
  }

  /** At most `limit` entries from `fromSeq` on, in order; only those of `actions` when given. */
  page(fromSeq: number, limit: number, actions?: readonly string[]): AuditEntry[] {
    const rows = actions === undefined ? this.#fromSeq.all(fromSeq, limit) : this.#fromSeqOfActions.all(fromSeq, JSON.stringify(actions), limit);
    return rows.map(entryOf);
  }

  /** A run's entries in runSeq order. */
  runEntries(runId: string): AuditEntry[] {
    return this.#ofRun.all(runId).map(entryOf);
  }

  /** A run's entries after global position `afterSeq`, in order, at most `limit`; only those of `actions` when given. */
  runEntriesAfter(runId: string, afterSeq: number, limit: number, actions?: readonly string[]): AuditEntry[] {
    const rows =
      actions === undefined
        ? this.#ofRunAfter.all(runId, afterSeq, runId, afterSeq, limit)
        : this.#ofRunOfActionsAfter.all(runId, afterSeq, JSON.stringify(actions), runId, afterSeq, limit);
    return rows.map(entryOf);
  }

  /** The time of the entry at `seq`; undefined when there is none. */
  timeAt(seq: number): string | undefined {
    return this.#timeAt.get(seq)?.time;
  }

  /** Whether a run ended (succeeded, failed or was cancelled) in an entry at `fromSeq` or later. */
  runEndedFrom(fromSeq: number): boolean {
    return this.#runEndFrom.get(fromSeq) !== undefined;
  }

  /** The last `signer.rotated` entry at `fromSeq` or later; undefined when there is none. */
  lastSignerRotationFrom(fromSeq: number): AuditEntry | undefined {
    const row = this.#lastSignerRotationFrom.get(fromSeq);
    return row && entryOf(row);
  }
}

function entryOf(row: { body: string }): AuditEntry {
  return JSON.parse(row.body) as AuditEntry;
}
