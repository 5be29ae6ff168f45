import type { AuditEntry } from '@cairn/core';
import { verifyAuditLog, type AuditLogVerification, type LogCheckpoint, type TrustedAnchor } from '@cairn/audit';
import { CairnError } from '@cairn/protocol';
import Database from 'better-sqlite3';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { serverSigningKey } from './server-trust.ts';

/** Rows read per query: memory stays bounded whatever the log's length. */
const pageSize = 1000;

/**
 * `cairn audit verify-log`: the server's whole audit log, read from its database (read-only, a page
 * of rows at a time, never the whole log), checked against every checkpoint it issued with the
 * server's own signing key, and with `anchors` (`--online`) against the anchors too. The log's
 * length is fixed when the check starts: entries a running server appends meanwhile are left out.
 * The stored Merkle leaves only locate an edited entry; the verdict rests on the signed roots.
 */
export async function verifyServerLog(
  loaded: LoadedServerConfig,
  options: { readonly anchors?: readonly TrustedAnchor[] } = {},
): Promise<AuditLogVerification> {
  if (loaded.config.engine.state.kind !== 'sqlite')
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `cairn audit verify-log reads a SQLite state, and ${loaded.file} keeps the engine's state in PostgreSQL (config.engine.state): checking the whole log there is not built yet. Each run's evidence bundle verifies with \`cairn verify\`.`,
      { path: 'config.engine.state.kind' },
    );
  const key = await serverSigningKey(loaded);
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
  try {
    const size = (database.prepare('SELECT COALESCE(MAX(seq) + 1, 0) AS size FROM audit_entries').get() as { size: number }).size;
    const entryPage = database.prepare<[number, number, number], { seq: number; body: string }>(
      'SELECT seq, body FROM audit_entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?',
    );
    const checkpointPage = database.prepare<[number, number, number], { treeSize: number; envelope: string; anchored: number; receipts: string }>(
      'SELECT tree_size AS treeSize, envelope, anchored, receipts FROM checkpoints WHERE tree_size > ? AND tree_size <= ? ORDER BY tree_size LIMIT ?',
    );
    const leaf = database.prepare<[number], { hash: Buffer }>('SELECT hash FROM merkle_nodes WHERE level = 0 AND idx = ?');
    function* entries(): Generator<unknown> {
      for (let next = 0; next < size;) {
        const rows = entryPage.all(next, size, pageSize);
        if (rows.length === 0) return;
        for (const row of rows) yield parsedBody(row.body, row.seq);
        next = rows.at(-1)!.seq + 1;
      }
    }
    function* checkpoints(): Generator<LogCheckpoint> {
      for (let after = -1; ;) {
        const rows = checkpointPage.all(after, size, pageSize);
        for (const row of rows)
          yield {
            envelope: JSON.parse(row.envelope) as LogCheckpoint['envelope'],
            anchored: row.anchored === 1,
            receipts: JSON.parse(row.receipts) as LogCheckpoint['receipts'],
          };
        if (rows.length < pageSize) return;
        after = rows.at(-1)!.treeSize;
      }
    }
    return await verifyAuditLog(entries(), checkpoints(), {
      trustedKeys: [key],
      origin: loaded.config.engine.origin,
      ...(options.anchors && options.anchors.length > 0 ? { trustedAnchors: options.anchors } : {}),
      storedLeafHash: (seq) => {
        const row = leaf.get(seq);
        return row ? new Uint8Array(row.hash.buffer, row.hash.byteOffset, row.hash.byteLength) : undefined;
      },
    });
  } finally {
    database.close();
  }
}

// A body that is not JSON is still an entry to report at its seq, not a crash of the check.
function parsedBody(body: string, seq: number): unknown {
  try {
    return JSON.parse(body) as AuditEntry;
  } catch {
    return { seq, unreadable: 'the stored body is not JSON' };
  }
}
