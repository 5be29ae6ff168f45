import { CairnError } from '@cairn/protocol';
import Database from 'better-sqlite3';
import { lowestStoredNodeLevel } from '@cairn/engine/internals';
import type { LoadedServerConfig } from '../../../config/load-server-config.ts';
import { checkpointOfRow, hashBytes, logPageSize, parsedBody, type CheckpointRow, type ServerLogSource } from '../server-log-source.ts';

/** The audit log in the server's SQLite database, opened read-only. */
export function openSqliteLogSource(loaded: LoadedServerConfig): ServerLogSource {
  let database: Database.Database;
  try {
    database = new Database(loaded.paths.database, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `Cannot open the server's database ${loaded.paths.database} (named by ${loaded.file}) to read its audit log: ${(error as Error).message}. Run in the server's folder, after cairn init and a first cairn serve.`,
      { path: loaded.paths.database, cause: error },
    );
  }
  const size = (database.prepare('SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM audit_entries').get() as { size: number }).size;
  const entryPage = database.prepare<[number, number, number], { seq: number; body: string }>(
    'SELECT seq, body FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?',
  );
  const checkpointPage = database.prepare<[number, number, number], CheckpointRow & { treeSize: number }>(
    'SELECT tree_size AS treeSize, envelope, anchored, receipts FROM checkpoints WHERE tree_size > ? AND tree_size <= ? ORDER BY tree_size LIMIT ?',
  );
  const node = database.prepare<[number, number], { hash: Buffer }>('SELECT hash FROM merkle_nodes WHERE level = ? AND idx = ?');
  return {
    location: loaded.paths.database,
    async *entries() {
      for (let next = 0; next < size;) {
        const rows = entryPage.all(next, size, logPageSize);
        if (rows.length === 0) return;
        for (const row of rows) yield parsedBody(row.body, row.seq);
        next = rows.at(-1)!.seq + 1;
      }
    },
    async *checkpoints() {
      for (let after = -1; ;) {
        const rows = checkpointPage.all(after, size, logPageSize);
        yield* rows.map(checkpointOfRow);
        if (rows.length < logPageSize) return;
        after = rows.at(-1)!.treeSize;
      }
    },
    storedSubtrees: { level: lowestStoredNodeLevel, hash: (index) => hashBytes(node.get(lowestStoredNodeLevel, index)?.hash) },
    close: async () => void database.close(),
  };
}
