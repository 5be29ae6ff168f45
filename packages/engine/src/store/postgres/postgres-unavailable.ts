import type { JsonValue } from '@cairn/core';
import { CairnError } from '@cairn/protocol';
import pg from 'pg';

/**
 * SQLSTATE classes that say the database could not be reached or used just now, not that the
 * statement was wrong: connection exceptions (08), a refused login (28), a database that is gone
 * (3D), a transaction rolled back to be tried again (40), resources exhausted: disk, memory,
 * connections (53), an operator or timeout ending the work (57), a system error such as I/O (58).
 */
const unavailableClasses = new Set(['08', '28', '3D', '40', '53', '57', '58']);

/**
 * Whether `error` is PostgreSQL or the way to it failing — the request may succeed later, and the
 * answer is CAIRN_STATE_UNAVAILABLE — rather than a fault in what was sent (a bug: CAIRN_INTERNAL
 * with the details in the log). Covers an error the server sent in one of the classes above, a
 * socket's (`ECONNREFUSED`, `ETIMEDOUT`...) and `pg`'s own for a lost or timed-out connection.
 */
export function isPostgresUnavailable(error: unknown): boolean {
  if (error instanceof CairnError) return false;
  if (error instanceof pg.DatabaseError) {
    // 25P03: the idle-in-transaction timeout ended the session.
    return error.code === '25P03' || unavailableClasses.has(error.code?.slice(0, 2) ?? '');
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable/i.test(
    String((error as Error).message),
  );
}

/**
 * `error` as CAIRN_STATE_UNAVAILABLE saying what could not be done where, then `advice`, with
 * `details` for a program to act on, when it is the database's failing; otherwise `error` as it is.
 */
export function postgresUnavailable(
  error: unknown,
  what: string,
  path: string,
  options: { readonly advice?: string; readonly details?: Readonly<Record<string, JsonValue>> } = {},
): unknown {
  if (!isPostgresUnavailable(error)) return error;
  const advice = options.advice ?? 'Check that the database answers (`cairn doctor`); the request may be sent again.';
  return new CairnError('CAIRN_STATE_UNAVAILABLE', `${what}: ${(error as Error).message}. ${advice}`, {
    path,
    cause: error,
    ...(options.details === undefined ? {} : { details: options.details }),
  });
}
