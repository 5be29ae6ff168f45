import type { LoadedServerConfig } from '../../../config/load-server-config.ts';
import { checkpointOfRow, hashBytes, logPageSize, parsedBody, type CheckpointRow, type ServerLogSource } from '../server-log-source.ts';

type PostgresState = Extract<LoadedServerConfig['config']['engine']['state'], { kind: 'postgres' }>;

/**
 * The audit log in the PostgreSQL database that keeps the engine's state (`engine.state`), read
 * through one reader connection. Entries below the size read at the start and the checkpoints
 * within it never change once committed (anchoring only adds receipts), so no snapshot is held
 * open while the log is checked (which, with `--online`, waits on anchors between pages).
 */
export async function openPostgresLogSource(state: PostgresState): Promise<ServerLogSource> {
  const { connectPostgres, describePostgresTarget, lowestStoredNodeLevel, parsePostgresStateSettings, quotedSchema } = await import('@cairn/engine/internals');
  const settings = parsePostgresStateSettings(state);
  const client = await connectPostgres(settings, 'reader');
  const schema = quotedSchema(settings.schema);
  const location = `${describePostgresTarget(client)}, schema "${settings.schema}"`;
  try {
    const { rows } = await client.query<{ size: number }>(`SELECT COALESCE(MAX(seq) + 1, 0)::int AS size FROM ${schema}.audit_entries`);
    const size = rows[0]!.size;
    // Read with their entries, a page at a time: the check asks for a subtree just after its last entry.
    const level = lowestStoredNodeLevel;
    const subtrees = new Map<number, Buffer>();
    return {
      location,
      async *entries() {
        for (let next = 0; next < size;) {
          const { rows: page } = await client.query<{ seq: number; body: string }>(
            `SELECT seq::int AS seq, body FROM ${schema}.audit_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3`,
            [next, size, logPageSize],
          );
          if (page.length === 0) return;
          // The subtrees whose last entry is on this page.
          const { rows: nodes } = await client.query<{ idx: number; hash: Buffer }>(
            `SELECT idx::int AS idx, hash FROM ${schema}.merkle_nodes WHERE level = $1 AND idx >= $2 AND idx < $3`,
            [level, Math.floor(page[0]!.seq / 2 ** level), Math.floor((page.at(-1)!.seq + 1) / 2 ** level)],
          );
          subtrees.clear();
          for (const row of nodes) subtrees.set(row.idx, row.hash);
          for (const row of page) yield parsedBody(row.body, row.seq);
          next = page.at(-1)!.seq + 1;
        }
      },
      async *checkpoints() {
        for (let after = -1; ;) {
          const { rows: page } = await client.query<CheckpointRow & { treeSize: number }>(
            `SELECT tree_size::int AS "treeSize", envelope, anchored::int AS anchored, receipts FROM ${schema}.checkpoints
             WHERE tree_size > $1 AND tree_size <= $2 ORDER BY tree_size LIMIT $3`,
            [after, size, logPageSize],
          );
          yield* page.map(checkpointOfRow);
          if (page.length < logPageSize) return;
          after = page.at(-1)!.treeSize;
        }
      },
      storedSubtrees: { level, hash: (index) => hashBytes(subtrees.get(index)) },
      close: () => client.end(),
    };
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}
