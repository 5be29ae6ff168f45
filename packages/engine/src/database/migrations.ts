/** One schema step. Numbered from 1, applied in order, never edited once released. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The engine's schema, step by step. The database records how far it is (`PRAGMA user_version`)
 * and `openEngineDatabase` applies the rest in one transaction.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'audit log and Merkle nodes',
    sql: `
      CREATE TABLE audit_entries (
        seq INTEGER PRIMARY KEY,
        run_id TEXT,
        run_seq INTEGER,
        time TEXT NOT NULL,
        action TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX audit_entries_by_run ON audit_entries (run_id, run_seq) WHERE run_id IS NOT NULL;
      CREATE TABLE merkle_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;
    `,
  },
];
