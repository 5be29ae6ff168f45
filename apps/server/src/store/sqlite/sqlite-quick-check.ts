import type Database from 'better-sqlite3';

/**
 * SQLite's `quick_check` of a database: the structure of every page and index, without the full
 * cross-check of `integrity_check`, which reads the whole database several times over. The
 * problems one a line (SQLite may put many in one row), the first few saying where.
 */
export function quickCheck(database: Database.Database): { readonly ok: boolean; readonly problems: readonly string[] } {
  const results = (database.pragma('quick_check') as { quick_check: string }[]).map((row) => row.quick_check);
  const ok = results.length === 1 && results[0] === 'ok';
  return { ok, problems: ok ? [] : results.flatMap((result) => result.split('\n')).filter((line) => line !== '' && !line.startsWith('***')) };
}
