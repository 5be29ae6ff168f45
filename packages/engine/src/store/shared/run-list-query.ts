import type { RunState } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import type { RunRecord } from '../../records/run-records.ts';
import type { RunListOptions, RunPage, RunSummary } from '../../records/run-page.ts';

/** The filters of a run list, checked: times normalised to stored form (`toISOString()`). */
export interface RunFilters {
  readonly state?: RunState;
  readonly name?: string;
  readonly submitter?: string;
  readonly submittedAfter?: string;
  readonly submittedBefore?: string;
}

export const runListLimits = { default: 50, max: 500 } as const;

/**
 * The cursor is the last run of a page and the filters that page was read with,
 * `[submittedAt, runId, filters]` in base64url JSON. A page is "strictly older than the cursor",
 * so a run submitted while someone pages through is never seen twice and no older run is skipped
 * (runs are never deleted). The filters are carried so that a cursor passed with other filters is
 * refused rather than answered with a page that silently mixes two lists. A two-element cursor (as
 * given out before filters existed) carries none and is taken with any.
 */
function encodeCursor(run: RunRecord, filters: RunFilters): string {
  return Buffer.from(JSON.stringify([run.submittedAt, run.runId, filterKey(filters)])).toString('base64url');
}

interface DecodedCursor {
  readonly position: readonly [submittedAt: string, runId: string];
  readonly filters?: string;
}

function decodeCursor(cursor: string): DecodedCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      (value.length === 2 || (value.length === 3 && typeof value[2] === 'string')) &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string' &&
      !Number.isNaN(Date.parse(value[0]))
    )
      return { position: [value[0], value[1]], ...(value.length === 3 ? { filters: value[2] as string } : {}) };
  } catch {
    // Not JSON: not a cursor this engine gave out.
  }
  return undefined;
}

/** The filters as one canonical string (fixed key order, absent ones left out), for comparing a cursor's with a request's. */
function filterKey(filters: RunFilters): string {
  const { state, name, submitter, submittedAfter, submittedBefore } = filters;
  return JSON.stringify({ state, name, submitter, submittedAfter, submittedBefore });
}

/** Whether `cursor` is one a run page gave out (for validating it before a request runs). */
export function isRunCursor(cursor: string): boolean {
  return decodeCursor(cursor) !== undefined;
}

/**
 * The WHERE conditions of a checked run list query, the same for every database: `placeholder`
 * names the next parameter (`@p0`, `$1` ...), and the parameters are keyed by those names.
 */
export function runListConditions(
  query: RunListQuery,
  placeholder: () => string,
): { readonly conditions: readonly string[]; readonly parameters: Record<string, string> } {
  const conditions: string[] = [];
  const parameters: Record<string, string> = {};
  const bind = (value: string) => {
    const name = placeholder();
    parameters[name] = value;
    return name;
  };
  const { state, name, submitter, submittedAfter, submittedBefore } = query.filters;
  if (state !== undefined) conditions.push(`state = ${bind(state)}`);
  if (name !== undefined) conditions.push(`name = ${bind(name)}`);
  if (submitter !== undefined) conditions.push(`submitted_by = ${bind(submitter)}`);
  // Submit times are stored as Date#toISOString() text, so text order is time order once the bounds are too.
  if (submittedAfter !== undefined) conditions.push(`submitted_at >= ${bind(submittedAfter)}`);
  if (submittedBefore !== undefined) conditions.push(`submitted_at < ${bind(submittedBefore)}`);
  if (query.cursor !== undefined) {
    const submittedAt = bind(query.cursor[0]);
    conditions.push(`(submitted_at, run_id) < (${submittedAt}, ${bind(query.cursor[1])})`);
  }
  return { conditions, parameters };
}

/** A run list's options, checked: what a page reads (`limit` runs, kept by `filters`, older than `cursor`). */
export interface RunListQuery {
  readonly limit: number;
  readonly filters: RunFilters;
  readonly cursor?: readonly [submittedAt: string, runId: string];
}

// RFC 3339 (a date, a time and an offset); Date.parse alone also takes "Nov 22 2026" and local times.
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whether `value` is a submit time bound a run list takes (RFC 3339 with an offset), for validating it before a request runs. */
export function isRunListTime(value: string): boolean {
  return rfc3339.test(value) && !Number.isNaN(Date.parse(value));
}

/** An RFC 3339 bound normalised to stored form; CAIRN_PAYLOAD_INVALID naming `path` otherwise. */
function submitTimeBound(value: string | undefined, path: 'submittedAfter' | 'submittedBefore'): string | undefined {
  if (value === undefined) return undefined;
  const time = rfc3339.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time))
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${path} must be an RFC 3339 time with an offset, such as 2026-11-22T10:00:00Z, not ${JSON.stringify(value)}.`,
      { path },
    );
  return new Date(time).toISOString();
}

/** A name or submitter filter: not empty, at most 1,000 characters. */
function textFilter(value: string | undefined, path: 'name' | 'submitter'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 1_000)
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `${path} must be 1 to 1,000 characters (the exact ${path === 'name' ? 'run name' : 'actor id'}), not ${JSON.stringify(value)}.`,
      {
        path,
      },
    );
  return value;
}

/**
 * Checks a run list's options, as every backend's reader must (the same errors whichever database
 * answers): throws CAIRN_PAYLOAD_INVALID naming `limit`, `name`, `submitter`, `submittedAfter`,
 * `submittedBefore` or `cursor`.
 */
export function runListQuery(options: RunListOptions): RunListQuery {
  const limit = options.limit ?? runListLimits.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > runListLimits.max) {
    throw new CairnError('CAIRN_PAYLOAD_INVALID', `limit must be a whole number from 1 to ${runListLimits.max}, not ${limit}.`, { path: 'limit' });
  }
  const name = textFilter(options.name, 'name');
  const submitter = textFilter(options.submitter, 'submitter');
  const submittedAfter = submitTimeBound(options.submittedAfter, 'submittedAfter');
  const submittedBefore = submitTimeBound(options.submittedBefore, 'submittedBefore');
  const filters: RunFilters = {
    ...(options.state ? { state: options.state } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(submitter !== undefined ? { submitter } : {}),
    ...(submittedAfter !== undefined ? { submittedAfter } : {}),
    ...(submittedBefore !== undefined ? { submittedBefore } : {}),
  };
  const cursor = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  if (options.cursor !== undefined && cursor === undefined) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      'cursor is not one a run page gave out; pass the nextCursor of the previous page, or none for the first page.',
      { path: 'cursor' },
    );
  }
  if (cursor?.filters !== undefined && cursor.filters !== filterKey(filters)) {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `cursor was given out for a list with other filters (${cursor.filters}); pass it with the same state, name, submitter, submittedAfter and submittedBefore, or start again without a cursor.`,
      { path: 'cursor' },
    );
  }
  return { limit, filters, ...(cursor ? { cursor: cursor.position } : {}) };
}

/** The page of `rows`, read with one row more than `limit` asked for: that one says whether more follow. */
export function runPageOf(rows: readonly RunSummary[], limit: number, filters: RunFilters): RunPage {
  if (rows.length <= limit) return { runs: rows };
  const runs = rows.slice(0, limit);
  return { runs, nextCursor: encodeCursor(runs.at(-1)!, filters) };
}
