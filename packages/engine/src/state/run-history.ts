import type { RunState } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { EngineDatabase } from '../database/engine-database.ts';
import type { RunRecord } from './run-records.ts';

/** A run in the history: its record, and how many of its items succeeded and how many of those reused a pure result. */
export interface RunSummary extends RunRecord {
  readonly itemsSucceeded: number;
  readonly itemsReused: number;
}

export interface RunListOptions {
  /** Only runs in this state. */
  readonly state?: RunState;
  /** At most this many runs (1 to 500; 50 by default). */
  readonly limit?: number;
  /** Where the previous page ended (its `nextCursor`); the first page without one. */
  readonly cursor?: string;
}

export interface RunPage {
  /** Newest first: by submit time, then by run id (descending). */
  readonly runs: readonly RunSummary[];
  /** Present when more runs may follow: pass it as `cursor` for the next page. */
  readonly nextCursor?: string;
}

export const runListLimits = { default: 50, max: 500 } as const;

const columns = `run_id AS runId, name, state, spec_digest AS specDigest, substr(idempotency_key, instr(idempotency_key, char(31)) + 1) AS idempotencyKey, submitted_by AS submittedBy,
  submitted_at AS submittedAt, finished_at AS finishedAt, items_total AS itemsTotal, items_finished AS itemsFinished, items_failed AS itemsFailed,
  cancel_requested_by AS cancelRequestedBy, concurrency,
  (SELECT COUNT(*) FROM items WHERE items.run_id = runs.run_id AND items.state = 'succeeded') AS itemsSucceeded,
  (SELECT COUNT(*) FROM audit_entries WHERE audit_entries.run_id = runs.run_id AND audit_entries.action = 'item.reused') AS itemsReused`;

/**
 * The cursor is the last run of a page, `[submittedAt, runId]` in base64url JSON. A page is
 * "strictly older than the cursor", so a run submitted while someone pages through is never seen
 * twice and no older run is skipped (runs are never deleted).
 */
function encodeCursor(run: RunRecord): string {
  return Buffer.from(JSON.stringify([run.submittedAt, run.runId])).toString('base64url');
}

function decodeCursor(cursor: string): readonly [string, string] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string' && !Number.isNaN(Date.parse(value[0])))
      return [value[0], value[1]];
  } catch {
    // Not JSON: not a cursor this engine gave out.
  }
  return undefined;
}

/** Whether `cursor` is one a run page gave out (for validating it before a request runs). */
export function isRunCursor(cursor: string): boolean {
  return decodeCursor(cursor) !== undefined;
}

/**
 * Runs newest first, a page at a time, optionally of one state. Each page is one index walk
 * (`runs_newest` or `runs_by_state_newest`) from the cursor on, whatever the history holds.
 */
export class RunHistory {
  readonly #statements;

  constructor(database: EngineDatabase) {
    const newest = (where: string) =>
      database.prepare<Record<string, string | number>, RunSummary>(
        `SELECT ${columns} FROM runs WHERE ${where} ORDER BY submitted_at DESC, run_id DESC LIMIT @limit`,
      );
    this.#statements = {
      first: newest('1'),
      after: newest('(submitted_at, run_id) < (@submittedAt, @runId)'),
      firstInState: newest('state = @state'),
      afterInState: newest('state = @state AND (submitted_at, run_id) < (@submittedAt, @runId)'),
    };
  }

  /** One page of runs. Throws CAIRN_PAYLOAD_INVALID (path `limit` or `cursor`) for a bad option. */
  page(options: RunListOptions = {}): RunPage {
    const { limit, state, cursor } = runListQuery(options);
    // One more than asked tells whether another page follows.
    const parameters: Record<string, string | number> = {
      limit: limit + 1,
      ...(state ? { state } : {}),
      ...(cursor ? { submittedAt: cursor[0], runId: cursor[1] } : {}),
    };
    const statement = state
      ? cursor
        ? this.#statements.afterInState
        : this.#statements.firstInState
      : cursor
        ? this.#statements.after
        : this.#statements.first;
    return runPageOf(statement.all(parameters), limit);
  }
}

/** A run list's options, checked: what a page reads (`limit` runs, of `state`, older than `cursor`). */
export interface RunListQuery {
  readonly limit: number;
  readonly state?: RunState;
  readonly cursor?: readonly [submittedAt: string, runId: string];
}

/**
 * Checks a run list's options, as every backend's reader must (the same errors whichever database
 * answers): throws CAIRN_PAYLOAD_INVALID naming `limit` or `cursor`.
 */
export function runListQuery(options: RunListOptions): RunListQuery {
  const limit = options.limit ?? runListLimits.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > runListLimits.max) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `limit must be a whole number from 1 to ${runListLimits.max}, not ${limit}.`, { path: 'limit' });
  }
  const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  if (options.cursor !== undefined && cursor === undefined) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      'cursor is not one a run page gave out; pass the nextCursor of the previous page, or none for the first page.',
      { path: 'cursor' },
    );
  }
  return { limit, ...(options.state ? { state: options.state } : {}), ...(cursor ? { cursor } : {}) };
}

/** The page of `rows`, read with one row more than `limit` asked for: that one says whether more follow. */
export function runPageOf(rows: readonly RunSummary[], limit: number): RunPage {
  if (rows.length <= limit) return { runs: rows };
  const runs = rows.slice(0, limit);
  return { runs, nextCursor: encodeCursor(runs.at(-1)!) };
}
