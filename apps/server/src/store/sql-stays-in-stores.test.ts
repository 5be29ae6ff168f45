// The server's SQL lives in stores: every statement is in a file under a `store/` folder (a
// capability's own, `webhooks/store/`, or the server's, `store/postgres/` for its migrations and
// `cairn doctor`'s reads), beside the store interface its capability calls. The rest of the server
// calls those interfaces and holds no SQL, as the engine's code outside `store/` holds none
// (packages/engine/src/store/sql-stays-in-the-store.test.ts).
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { linesHoldingSql, sourceFilesOutsideStores, sqlPatterns } from '../../../../packages/engine/src/store/sql-statements.test-support.ts';

const source = fileURLToPath(new URL('..', import.meta.url));

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
    expect(
      linesHoldingSql(
        source,
        sourceFilesOutsideStores(source, (folder) => basename(folder) === 'store'),
      ),
    ).toEqual([]);
  });
});
