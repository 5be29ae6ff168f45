import type pg from 'pg';
import { CairnError } from '@cairn/protocol';

/** One step of the PostgreSQL schema. Numbered from 1, applied in order, never edited once released. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  /** SQL with `{schema}` where the configured schema's (quoted) name goes. */
  readonly sql: string;
}

/**
 * The engine's tables in PostgreSQL: column for column the SQLite schema after every step of
 * `database/migrations.ts` (same names, so captured rows apply by name; INTEGER is bigint, TEXT
 * text, BLOB bytea), with the same primary keys and the indexes the API's reads need. A test
 * compares the two schemas table by table, so a SQLite migration without its step here fails.
 *
 * No foreign keys: the working copy enforces them before a batch is made, and a batch's rows are
 * applied table by table. The unique constraints other than primary keys are deferred to the
 * commit, so that a batch that moves a unique value from one row to another applies in any order.
 * `engine_commands` and `engine_leader` exist only here: they are how replicas reach the writer
 * and how `doctor` tells who writes.
 */
export const postgresMigrations: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'engine state as of SQLite migration 11, commands and the leader record',
    sql: `
      CREATE TABLE {schema}.audit_entries (
        seq bigint PRIMARY KEY,
        run_id text,
        run_seq bigint,
        time text NOT NULL,
        action text NOT NULL,
        entity_kind text NOT NULL,
        outcome text NOT NULL,
        actor_id text NOT NULL,
        body text NOT NULL
      );
      CREATE UNIQUE INDEX audit_entries_by_run ON {schema}.audit_entries (run_id, run_seq) WHERE run_id IS NOT NULL;
      CREATE INDEX audit_entries_reused ON {schema}.audit_entries (run_id) WHERE action = 'item.reused';
      CREATE TABLE {schema}.merkle_nodes (
        level bigint NOT NULL,
        idx bigint NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (level, idx)
      );
      CREATE TABLE {schema}.runs (
        run_id text PRIMARY KEY,
        name text NOT NULL,
        state text NOT NULL,
        spec_digest text NOT NULL,
        idempotency_key text UNIQUE DEFERRABLE INITIALLY DEFERRED,
        submitted_by text NOT NULL,
        submitted_at text NOT NULL,
        finished_at text,
        items_total bigint NOT NULL,
        items_finished bigint NOT NULL DEFAULT 0,
        items_failed bigint NOT NULL DEFAULT 0,
        workspace text,
        cancel_requested_by text,
        concurrency bigint
      );
      CREATE INDEX runs_newest ON {schema}.runs (submitted_at, run_id);
      CREATE INDEX runs_by_state_newest ON {schema}.runs (state, submitted_at, run_id);
      CREATE TABLE {schema}.run_specs (
        run_id text PRIMARY KEY,
        spec text NOT NULL
      );
      CREATE TABLE {schema}.items (
        run_id text NOT NULL,
        item_id text NOT NULL,
        position bigint NOT NULL,
        state text NOT NULL,
        waiting_on bigint NOT NULL,
        approval_required bigint NOT NULL,
        ready_at text,
        spec text NOT NULL DEFAULT '{}',
        executor text NOT NULL DEFAULT '',
        attempts bigint NOT NULL DEFAULT 0,
        approval_deadline text,
        cancel_requested_by text,
        artifacts text,
        failure text,
        PRIMARY KEY (run_id, item_id)
      );
      -- A run's items in spec order (the primary key finds them too, but unordered).
      CREATE INDEX items_by_run ON {schema}.items (run_id, position);
      CREATE TABLE {schema}.item_edges (
        run_id text NOT NULL,
        prerequisite text NOT NULL,
        dependent text NOT NULL,
        PRIMARY KEY (run_id, prerequisite, dependent)
      );
      CREATE TABLE {schema}.attempts (
        run_id text NOT NULL,
        item_id text NOT NULL,
        attempt bigint NOT NULL,
        fencing_token bigint NOT NULL,
        execution_id text NOT NULL UNIQUE DEFERRABLE INITIALLY DEFERRED,
        executor text NOT NULL,
        state text NOT NULL,
        manifest_digest text NOT NULL,
        handle text,
        exit_code bigint,
        artifacts text,
        dispatched_at text NOT NULL,
        finished_at text,
        deadline text,
        stop_reason text,
        stop_sent bigint NOT NULL DEFAULT 0,
        queue text,
        input_digest text,
        failure text,
        PRIMARY KEY (run_id, item_id, attempt)
      );
      CREATE TABLE {schema}.lock_holders (
        name text NOT NULL,
        mode text NOT NULL,
        run_id text NOT NULL,
        item_id text NOT NULL,
        PRIMARY KEY (name, run_id, item_id)
      );
      CREATE TABLE {schema}.checkpoints (
        tree_size bigint PRIMARY KEY,
        envelope text NOT NULL,
        issued_at text NOT NULL,
        anchored bigint NOT NULL DEFAULT 0,
        receipts text NOT NULL DEFAULT '[]',
        tries bigint NOT NULL DEFAULT 0,
        next_try_at text NOT NULL,
        last_error text
      );
      CREATE TABLE {schema}.pure_results (
        input_digest text PRIMARY KEY,
        run_id text NOT NULL,
        item_id text NOT NULL,
        attempt bigint NOT NULL,
        artifacts text NOT NULL,
        exit_code bigint,
        recorded_at text NOT NULL
      );
      CREATE TABLE {schema}.secrets (
        name text PRIMARY KEY,
        version bigint NOT NULL,
        envelope text NOT NULL,
        updated_at text NOT NULL,
        updated_by text NOT NULL
      );
      CREATE TABLE {schema}.schedules (
        schedule_id text PRIMARY KEY,
        cron text NOT NULL,
        time_zone text NOT NULL,
        spec text NOT NULL,
        catch_up text NOT NULL,
        catch_up_max bigint,
        overlap text NOT NULL,
        created_by text NOT NULL,
        created_at text NOT NULL,
        next_slot text,
        last_run_id text
      );
      -- A commit's check that its audit entries continue the stored sequence (one writer, no gap,
      -- no fork), inside the commit's transaction; CR001 is how the writer recognises the refusal.
      CREATE FUNCTION {schema}.assert_audit_continues(first_seq bigint) RETURNS void LANGUAGE plpgsql AS $check$
      DECLARE
        stored_last bigint;
      BEGIN
        SELECT coalesce(max(seq), -1) INTO stored_last FROM {schema}.audit_entries;
        IF first_seq <> stored_last + 1 THEN
          RAISE EXCEPTION USING ERRCODE = 'CR001', MESSAGE = format(
            'the batch''s audit entries start at seq %s, but the store''s last is %s (the next must be %s)', first_seq, stored_last, stored_last + 1);
        END IF;
      END
      $check$;
      -- Commands from replicas to the engine that holds the writer lease (postgres-commands.ts).
      CREATE TABLE {schema}.engine_commands (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        payload jsonb NOT NULL,
        actor jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'taken', 'done', 'failed')),
        result jsonb,
        error jsonb,
        done_at timestamptz
      );
      CREATE INDEX engine_commands_open ON {schema}.engine_commands (id) WHERE state IN ('pending', 'taken');
      -- Who holds the writer lease, for doctor and operators; the advisory lock is the truth.
      CREATE TABLE {schema}.engine_leader (
        lock_key bigint PRIMARY KEY,
        instance_id text NOT NULL,
        host text NOT NULL,
        pid bigint NOT NULL,
        backend_pid bigint NOT NULL,
        since timestamptz NOT NULL,
        heartbeat_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'lock waits (SQLite migration 12)',
    sql: `
      ALTER TABLE {schema}.items ADD COLUMN lock_wait_started_at text;
      ALTER TABLE {schema}.items ADD COLUMN lock_wait_locks text;
      ALTER TABLE {schema}.attempts ADD COLUMN lock_wait_started_at text;
      ALTER TABLE {schema}.attempts ADD COLUMN lock_wait_locks text;
    `,
  },
  {
    version: 3,
    name: 'run history by name and by submitter (SQLite migration 13)',
    sql: `
      CREATE INDEX runs_by_name_newest ON {schema}.runs (name, submitted_at, run_id);
      CREATE INDEX runs_by_submitter_newest ON {schema}.runs (submitted_by, submitted_at, run_id);
    `,
  },
  {
    version: 4,
    name: "the Merkle tree's leaves are the audit entries (SQLite migration 14)",
    sql: `
      DELETE FROM {schema}.merkle_nodes WHERE level < 4;
    `,
  },
  {
    version: 5,
    name: 'room in the pages of rows the engine updates',
    sql: `
      -- An item is written three times (submitted, dispatched, finished), an attempt twice, a run
      -- at every item it finishes. With pages packed full (the default) an update finds no room
      -- beside the row and writes its new version elsewhere, with a new entry in every index; with
      -- room left, updates that change no indexed column stay in the page (HOT) and touch no index.
      -- Rows written from now on get the room; existing pages get it as they are rewritten.
      ALTER TABLE {schema}.items SET (fillfactor = 60);
      ALTER TABLE {schema}.attempts SET (fillfactor = 60);
      ALTER TABLE {schema}.runs SET (fillfactor = 60);
    `,
  },
  {
    version: 6,
    name: 'one Merkle level in four stored (SQLite migration 15)',
    sql: `
      DELETE FROM {schema}.merkle_nodes WHERE level % 4 <> 0;
    `,
  },
  {
    version: 7,
    name: 'dispatch priority (SQLite migration 16)',
    sql: `
      ALTER TABLE {schema}.runs ADD COLUMN priority bigint NOT NULL DEFAULT 3;
      ALTER TABLE {schema}.items ADD COLUMN priority bigint NOT NULL DEFAULT 3;
      ALTER TABLE {schema}.items ADD COLUMN dispatch_order bigint;
      UPDATE {schema}.items SET dispatch_order = floor(extract(epoch FROM ready_at::timestamptz) * 1000)::bigint
        WHERE state = 'ready' AND ready_at IS NOT NULL;
      -- No index on dispatch_order here: the dispatch order is read on the leader's working copy
      -- (SQLite, whose migration 16 indexes it), never in PostgreSQL. A partial index on ready
      -- items would make every item state change index its row again, where today such an update
      -- stays in its page (HOT, migration 5).
    `,
  },
  {
    version: 8,
    name: 'approval votes (SQLite migration 17)',
    sql: `
      CREATE TABLE {schema}.approval_votes (
        run_id text NOT NULL,
        item_id text NOT NULL,
        voter text NOT NULL,
        actor text NOT NULL,
        decision text NOT NULL,
        voted_at text NOT NULL,
        reason text,
        PRIMARY KEY (run_id, item_id, voter)
      );
    `,
  },
  {
    version: 9,
    name: "a run's entries of an action read without its others (SQLite migration 18)",
    sql: `
      CREATE INDEX audit_entries_model_calls ON {schema}.audit_entries (run_id, run_seq) WHERE action = 'model.called';
      CREATE INDEX audit_entries_budget_raises ON {schema}.audit_entries (run_id, run_seq) WHERE action = 'run.budget-raised';
      CREATE INDEX audit_entries_approval_votes ON {schema}.audit_entries (run_id, run_seq) WHERE action = 'item.approval-voted';
    `,
  },
];

/** The engine's state tables (those the working copy holds); `engine_commands` and `engine_leader` are PostgreSQL's own. */
export const postgresOnlyTables: readonly string[] = ['engine_commands', 'engine_leader', 'schema_migrations'];

/** The schema's name quoted as an SQL identifier. */
export function quotedSchema(schema: string): string {
  return `"${schema.replaceAll('"', '""')}"`;
}

/**
 * Where a set of steps records which of them a schema has: its own table, and its own advisory
 * lock. The engine's steps are one set; the server keeps its tables in the same schema as another.
 */
export interface PostgresMigrationLedger {
  /** The table listing the steps applied (created when missing). */
  readonly table: string;
  /** Names the lock, with the schema's name: each set of steps is applied under a lock of its own. */
  readonly lockName: string;
  /** What has a version, in the refusal of a schema newer than the steps ("The PostgreSQL schema"). */
  readonly subject: string;
  /** Who must be upgraded then ("this engine"). */
  readonly knower: string;
}

/** The engine's own steps' ledger. */
export const engineMigrationLedger: PostgresMigrationLedger = {
  table: 'schema_migrations',
  lockName: 'cairn.schema.',
  subject: 'The PostgreSQL schema',
  knower: 'this engine',
};

/**
 * Brings the schema up to date. Runs in one transaction holding a transaction-level advisory lock
 * (derived from the schema name), so replicas starting together apply each step once: the second
 * waits, then finds nothing to do. A database whose schema is newer than these steps is refused.
 */
export async function migratePostgresSchema(
  client: pg.ClientBase,
  schema: string,
  migrations: readonly PostgresMigration[] = postgresMigrations,
  ledger: PostgresMigrationLedger = engineMigrationLedger,
): Promise<{ readonly applied: readonly number[] }> {
  const quoted = quotedSchema(schema);
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1::text || $2::text))`, [ledger.lockName, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.${ledger.table} (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: string | null }>(`SELECT max(version) AS version FROM ${quoted}.${ledger.table}`);
    const current = Number(rows[0]?.version ?? 0);
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${ledger.subject} "${schema}" has version ${current}, newer than ${ledger.knower} knows (${latest}). Upgrade Cairn on every replica, or point engine.state.schema at another schema.`,
        { path: 'engine.state.schema', details: { schema, version: current, known: latest } },
      );
    }
    const applied: number[] = [];
    for (const migration of migrations.filter((step) => step.version > current)) {
      try {
        await client.query(migration.sql.replaceAll('{schema}', quoted));
      } catch (error) {
        throw new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `PostgreSQL step ${migration.version} (${migration.name}) of ${ledger.table} in schema "${schema}" failed: ${(error as Error).message}. Nothing was changed; check that the user may create tables in that schema.`,
          { path: 'engine.state.schema', cause: error },
        );
      }
      await client.query(`INSERT INTO ${quoted}.${ledger.table} (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return { applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
