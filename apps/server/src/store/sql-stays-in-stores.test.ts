// The server's SQL lives in stores: every statement is in a file under a `store/` folder (a
// capability's own, `webhooks/store/`, or the server's, `store/postgres/` for its migrations and
// `cairn doctor`'s reads), beside the store interface its capability calls. The rest of the server
// calls those interfaces and holds no SQL, as the engine's code outside `store/` holds none
// (packages/engine/src/store/sql-stays-in-the-store.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const source = fileURLToPath(new URL('..', import.meta.url));

/** The server's source files outside every `store/` folder (tests and test supports aside: they may set a scene in SQL). */
function filesOutsideStores(): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'store') walk(path);
      } else if (entry.name.endsWith('.ts') && !/\.test(-support)?\.ts$|\.test-d\.ts$/.test(entry.name)) {
        found.push(path);
      }
    }
  };
  walk(source);
  return found;
}

/** SQL as the server writes it: a statement's opening words, a prepared statement, a pragma or a raw exec. */
const sqlPatterns = [
  /\bSELECT\s+[\w*(]/,
  /\bINSERT\s+(OR\s+\w+\s+)?INTO\b/,
  /\bUPDATE\s+[\w.{}]+\s+SET\b/,
  /\bDELETE\s+FROM\b/,
  /\b(CREATE|ALTER)\s+(TABLE|INDEX|TRIGGER)\b/,
  /\.prepare\s*[<(]/,
  /\.pragma\s*\(/,
  /\.exec\s*\(\s*['"`]/,
];

describe("the server's stores", () => {
  it('finds the patterns it looks for (the check can fail)', () => {
    for (const line of [
      "db.prepare('SELECT body FROM tokens')",
      'INSERT INTO {schema}.server_tokens',
      'UPDATE {schema}.server_webhook_deliveries SET status = $1',
      "database.pragma('journal_mode = WAL')",
      'ALTER TABLE {schema}.server_tokens ADD COLUMN person text',
    ])
      expect(
        sqlPatterns.some((pattern) => pattern.test(line)),
        line,
      ).toBe(true);
  });

  it('hold every SQL statement of the server: none is outside a store/ folder', () => {
    const offenders: string[] = [];
    for (const file of filesOutsideStores())
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, index) => {
          if (sqlPatterns.some((pattern) => pattern.test(line))) offenders.push(`${relative(source, file).split(sep).join('/')}:${index + 1}: ${line.trim()}`);
        });
    expect(offenders).toEqual([]);
  });
});
