// The store seam holds: every SQL statement of the engine is under store/sqlite/ or store/postgres/,
// and the rest of the engine reaches its state through the working copy's tables, never through a
// database handle of its own.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { linesHoldingSql, sourceFilesOutsideStores, sqlPatterns } from './sql-statements.test-support.ts';

const source = fileURLToPath(new URL('..', import.meta.url));

/** The engine's source files outside store/. */
const filesOutsideTheStore = () => sourceFilesOutsideStores(source, (folder) => relative(source, folder) === 'store');

describe('the store seam', () => {
  it('finds the patterns it looks for (the check can fail)', () => {
    const sample = [
      "db.prepare('SELECT body FROM audit_entries')",
      'INSERT OR IGNORE INTO checkpoints',
      "database.pragma('user_version')",
      'UPDATE items SET state = ?',
    ];
    for (const line of sample)
      expect(
        sqlPatterns.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
  });

  it('has no SQL outside store/', () => {
    expect(linesHoldingSql(source, filesOutsideTheStore())).toEqual([]);
  });

  it('hands no database handle to the engine outside store/ (only the engine opens one, and its settings name the type)', () => {
    const allowed = new Set(['engine.ts', 'engine-settings.ts', 'index.ts', 'internals.ts']);
    const offenders = filesOutsideTheStore()
      .filter((file) => !allowed.has(relative(source, file)))
      .filter((file) => /\bEngineDatabase\b|engine-database\.ts/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(source, file));
    expect(offenders).toEqual([]);
  });
});
