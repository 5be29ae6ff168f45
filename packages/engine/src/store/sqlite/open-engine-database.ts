import Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { migrations as defaultMigrations, type Migration } from './migrations.ts';
import { watchRollbacks } from './rollback-watch.ts';

/**
 * Opens (creating if needed) the engine's SQLite database and brings its schema up to date.
 *
 * WAL mode with `synchronous = NORMAL`: a committed transaction survives a crash of the process
 * (kill -9) at once, and a power loss once the engine's group commit has synced the WAL
 * (`WalCommit`, ADR 0031), which it does before anything the transaction causes leaves it. Foreign
 * keys are enforced. Pending migrations run in one transaction: a failure leaves the previous
 * schema. A database newer than this engine is refused rather than misread. Its rollbacks are
 * counted (`watchRollbacks`), so the audit log can keep the Merkle tree's edge in memory.
 */
export function openEngineDatabase(path: string, migrations: readonly Migration[] = defaultMigrations): EngineDatabase {
  let database: EngineDatabase;
  try {
    // Assigning better-sqlite3's Database to the engine's own interface is the compile-time check that it is one.
    database = new Database(path);
  } catch (error) {
    throw new CairnError('CAIRN_CONFIG_INVALID', `Cannot open the engine database ${path}: ${(error as Error).message}. Check the path and its permissions.`, {
      path,
      cause: error,
    });
  }
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // Temporary tables and indexes (sorts, statement journals) in memory rather than temp files; a
  // page cache that holds the hot indexes of a large run (16 MiB, not the 2 MiB default); and the
  // WAL trimmed back after a checkpoint, so one burst does not leave a large file behind.
  database.pragma('temp_store = MEMORY');
  database.pragma('cache_size = -16384');
  database.pragma('journal_size_limit = 67108864');
  // Before any transaction function exists: the audit log's Merkle store trusts what it keeps in
  // memory only while every rollback is counted.
  watchRollbacks(database);
  try {
    migrate(database, path, migrations);
  } catch (error) {
    database.close();
    throw error;
  }
  return database;
}

function migrate(database: EngineDatabase, path: string, migrations: readonly Migration[]): void {
  const current = database.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `The engine database ${path} has schema version ${current}, newer than this engine knows (${latest}). Upgrade Cairn or use another database.`,
      {
        path,
      },
    );
  }
  const pending = migrations.filter((migration) => migration.version > current);
  if (pending.length === 0) return;
  database.transaction(() => {
    for (const migration of pending) {
      try {
        database.exec(migration.sql);
      } catch (error) {
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `Migration ${migration.version} (${migration.name}) of ${path} failed: ${(error as Error).message}. The database keeps schema version ${current}.`,
          {
            path,
            cause: error,
          },
        );
      }
    }
    database.pragma(`user_version = ${latest}`);
  })();
}
