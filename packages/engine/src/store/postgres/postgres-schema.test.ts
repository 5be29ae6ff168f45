import { afterEach, describe, expect, it } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { openEngineDatabase } from '../sqlite/open-engine-database.ts';
import { engineTables } from '../change-capture.ts';
import { runListConditions, runListQuery } from '../shared/run-list-query.ts';
import type { RunListOptions } from '../../records/run-page.ts';
import { migratePostgresSchema, postgresMigrations, postgresOnlyTables } from './postgres-schema.ts';
import { createTestDatabase, type TestDatabase } from './postgres.test-support.ts';

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

const postgresType: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', BLOB: 'bytea' };

describe('the PostgreSQL schema', () => {
  it('has the same tables, columns, types, nullability and primary keys as the SQLite schema after every migration', async () => {
    database = await createTestDatabase();
    const client = await database.client();
    await migratePostgresSchema(client, 'cairn');
    const workingCopy = openEngineDatabase(':memory:');
    const sqlite: Record<string, Record<string, string>> = {};
    for (const table of engineTables(workingCopy)) {
      const info = workingCopy.pragma(`table_info("${table.name}")`) as { name: string; type: string; notnull: number; pk: number }[];
      sqlite[table.name] = Object.fromEntries(
        info.map((column) => [
          column.name,
          `${postgresType[column.type] ?? `unmapped ${column.type}`} ${column.notnull || column.pk ? 'not null' : 'null'} pk${column.pk}`,
        ]),
      );
    }
    workingCopy.close();
    const { rows } = await client.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string; key_position: number | null }>(
      `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable, k.ordinal_position AS key_position
       FROM information_schema.columns AS c
       LEFT JOIN information_schema.table_constraints AS t
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.constraint_type = 'PRIMARY KEY'
       LEFT JOIN information_schema.key_column_usage AS k
         ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name AND k.column_name = c.column_name
       WHERE c.table_schema = 'cairn'`,
    );
    const postgres: Record<string, Record<string, string>> = {};
    for (const row of rows) {
      if (postgresOnlyTables.includes(row.table_name)) continue;
      (postgres[row.table_name] ??= {})[row.column_name] = `${row.data_type} ${row.is_nullable === 'YES' ? 'null' : 'not null'} pk${row.key_position ?? 0}`;
    }
    expect(Object.keys(sqlite).length).toBeGreaterThanOrEqual(12);
    expect(postgres).toEqual(sqlite);
  });

  it('leaves room in the pages of items, attempts and runs, so their updates stay in place (no new index entries)', async () => {
    database = await createTestDatabase();
    const client = await database.client();
    await migratePostgresSchema(client, 'cairn');
    const { rows: options } = await client.query<{ relname: string; reloptions: string[] | null }>(
      `SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'cairn' AND c.relname IN ('items', 'attempts', 'runs') ORDER BY c.relname`,
    );
    expect(options).toEqual(['attempts', 'items', 'runs'].map((relname) => ({ relname, reloptions: ['fillfactor=60'] })));
    // 500 items submitted, then dispatched, then finished, each in a commit of its own as the
    // engine writes them: with room in their pages, (nearly) every update is a heap-only one.
    await client.query(
      `INSERT INTO cairn.items (run_id, item_id, position, state, waiting_on, approval_required, spec)
       SELECT 'r', 'item-' || n, n, 'ready', 0, 0, repeat('s', 300) FROM generate_series(1, 500) AS n`,
    );
    // The session's counts, not yet flushed to the shared statistics, run on across its commits.
    const counted = async () => {
      const { rows } = await client.query<{ updates: string; hot: string }>(
        `SELECT n_tup_upd AS updates, n_tup_hot_upd AS hot FROM pg_stat_xact_user_tables WHERE schemaname = 'cairn' AND relname = 'items'`,
      );
      return { updates: Number(rows[0]!.updates), hot: Number(rows[0]!.hot) };
    };
    await client.query(`UPDATE cairn.items SET state = 'dispatching', attempts = 1`);
    const dispatched = await counted();
    await client.query(`UPDATE cairn.items SET state = 'succeeded', artifacts = '[]'`);
    const finished = await counted();
    // Pages packed full leave room for none but the last page's rows (a few of 500); 60 % full
    // pages for about two in three at the first update. The next update finds room only where
    // PostgreSQL could prune the versions the first left dead, which it cannot while any
    // transaction of the cluster is older than them: other test files share this cluster, so the
    // second update's count is not bounded here (on a quiet cluster it is over 400 of 500).
    expect(dispatched).toMatchObject({ updates: 500, hot: expect.any(Number) });
    expect(dispatched.hot).toBeGreaterThan(250);
    expect(finished.updates - dispatched.updates).toBe(500);
  });

  it('has the unique constraints of the SQLite schema and the indexes readers use', async () => {
    database = await createTestDatabase();
    const client = await database.client();
    await migratePostgresSchema(client, 'cairn');
    const { rows } = await client.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'cairn'`);
    const names = rows.map((row) => row.indexname);
    for (const index of [
      'runs_newest',
      'runs_by_state_newest',
      'runs_by_name_newest',
      'runs_by_submitter_newest',
      'items_by_run',
      'audit_entries_by_run',
      'runs_idempotency_key_key',
      'attempts_execution_id_key',
    ])
      expect(names).toContain(index);
    // A second run with the same submitter's idempotency key is refused, as in SQLite (at commit: deferred).
    await client.query(
      `INSERT INTO cairn.runs (run_id, name, state, spec_digest, idempotency_key, submitted_by, submitted_at, items_total) VALUES ('a', 'n', 's', 'd', 'k', 'u', 't', 1)`,
    );
    await expect(
      client.query(
        `INSERT INTO cairn.runs (run_id, name, state, spec_digest, idempotency_key, submitted_by, submitted_at, items_total) VALUES ('b', 'n', 's', 'd', 'k', 'u', 't', 1)`,
      ),
    ).rejects.toThrow(/runs_idempotency_key_key/);
  });

  it('applies each step once when replicas migrate together, and records the version', async () => {
    database = await createTestDatabase();
    const clients = await Promise.all([database.client(), database.client(), database.client()]);
    const outcomes = await Promise.all(clients.map((client) => migratePostgresSchema(client, 'cairn_replicas')));
    expect(outcomes.map((outcome) => outcome.applied.length).sort()).toEqual([0, 0, postgresMigrations.length]);
    const { rows } = await clients[0]!.query<{ version: string }>('SELECT version FROM cairn_replicas.schema_migrations ORDER BY version');
    expect(rows.map((row) => Number(row.version))).toEqual(postgresMigrations.map((migration) => migration.version));
  });

  it('refuses a schema newer than this engine knows, naming the schema and both versions', async () => {
    database = await createTestDatabase();
    const client = await database.client();
    await migratePostgresSchema(client, 'cairn');
    await client.query(`INSERT INTO cairn.schema_migrations (version, name) VALUES (999, 'from the future')`);
    const error = await migratePostgresSchema(client, 'cairn').catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`"cairn" has version 999, newer than this engine knows (${postgresMigrations.at(-1)!.version})`);
  });

  it('lets each run list filter walk an index in order (the plan the readers need once the table is large)', async () => {
    database = await createTestDatabase();
    const client = await database.client();
    await migratePostgresSchema(client, 'cairn');
    // On an empty table a sequential scan is cheapest; forbid it to see which index the planner can use.
    await client.query('SET search_path = cairn; SET enable_seqscan = off; SET enable_sort = off');
    const plan = async (options: RunListOptions) => {
      let count = 0;
      const { conditions, parameters } = runListConditions(runListQuery(options), () => `$${++count}`);
      const sql = `EXPLAIN SELECT * FROM runs ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY submitted_at DESC, run_id DESC LIMIT 51`;
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(sql, Object.values(parameters));
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    };
    expect(await plan({ name: 'nightly' })).toMatch(/Index Scan Backward using runs_by_name_newest/);
    expect(await plan({ submitter: 'ana' })).toMatch(/Index Scan Backward using runs_by_submitter_newest/);
    expect(await plan({ submittedAfter: '2026-01-01T00:00:00Z', submittedBefore: '2026-02-01T00:00:00Z' })).toMatch(/Index Scan Backward using runs_newest/);
    for (const options of [{ name: 'nightly' }, { submitter: 'ana' }, { submittedAfter: '2026-01-01T00:00:00Z' }])
      expect(await plan(options)).not.toMatch(/Sort|Seq Scan/);
  });
});
