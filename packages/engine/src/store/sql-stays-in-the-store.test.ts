// The store seam holds: every SQL statement of the engine is under store/sqlite/ or store/postgres/,
// and the rest of the engine reaches its state through the working copy's tables, never through a
// database handle of its own.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const source = fileURLToPath(new URL('..', import.meta.url));

/** The engine's source files outside store/ (tests and test supports aside: they may set a scene in SQL). */
function filesOutsideTheStore(): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (relative(source, path) !== 'store') walk(path);
      } else if (entry.name.endsWith('.ts') && !/\.test(-support)?\.ts$|\.test\.ts$/.test(entry.name)) {
        found.push(path);
      }
    }
  };
  walk(source);
  return found;
}

/** SQL as the engine writes it: a statement's opening words, a prepared statement, a pragma or a raw exec. */
const sqlPatterns = [
  /\bSELECT\s+[\w*(]/,
  /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/,
  /\bUPDATE\s+\w+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /\bCREATE\s+(TABLE|INDEX|TRIGGER)\b/,
  /\.prepare\s*[<(]/,
  /\.pragma\s*\(/,
  /\.exec\s*\(\s*['"`]/,
];

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
    const offenders: string[] = [];
    for (const file of filesOutsideTheStore()) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (sqlPatterns.some((pattern) => pattern.test(line))) offenders.push(`${relative(source, file)}:${index + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).toEqual([]);
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
