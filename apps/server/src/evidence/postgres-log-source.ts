import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { checkpointOfRow, leafBytes, logPageSize, parsedBody, type CheckpointRow, type ServerLogSource } from './server-log-source.ts';

type PostgresState = Extract<LoadedServerConfig['config']['engine']['state'], { kind: 'postgres' }>;

/**
 * The audit log in the PostgreSQL database that keeps the engine's state (`engine.state`), read
 * through one reader connection. Entries below the size read at the start and the checkpoints
 * within it never change once committed (anchoring only adds receipts), so no snapshot is held
 * open while the log is checked (which, with `--online`, waits on anchors between pages).
 */
export async function openPostgresLogSource(state: PostgresState): Promise<ServerLogSource> {
  const { connectPostgres, describePostgresTarget, parsePostgresStateSettings, quotedSchema } = await import('@cairn/engine/internals');
  const settings = parsePostgresStateSettings(state);
  const client = await connectPostgres(settings, 'reader');
  const schema = quotedSchema(settings.schema);
  const location = `${describePostgresTarget(client)}, schema "${settings.schema}"`;
  try {
    const { rows } = await client.query<{ size: number }>(`SELECT COALESCE(MAX(seq) + 1, 0)::int AS size FROM ${schema}.audit_entries`);
    const size = rows[0]!.size;
    // Read with their entries, a page at a time: the check asks for an entry's leaf just after the entry.
    const leaves = new Map<number, Buffer | null>();
    return {
      location,
      async *entries() {
        for (let next = 0; next < size;) {
          const { rows: page } = await client.query<{ seq: number; body: string; hash: Buffer | null }>(
            `SELECT entry.seq::int AS seq, entry.body, leaf.hash FROM ${schema}.audit_entries entry
               LEFT JOIN ${schema}.merkle_nodes leaf ON leaf.level = 0 AND leaf.idx = entry.seq
             WHERE entry.seq >= $1 AND entry.seq < $2 ORDER BY entry.seq LIMIT $3`,
            [next, size, logPageSize],
          );
          if (page.length === 0) return;
          leaves.clear();
          for (const row of page) leaves.set(row.seq, row.hash);
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
      storedLeafHash: (seq) => leafBytes(leaves.get(seq)),
      close: () => client.end(),
    };
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}
