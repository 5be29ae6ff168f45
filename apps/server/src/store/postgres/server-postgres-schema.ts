import type pg from 'pg';
import { CairnError } from '@cairn/protocol';

/** One step of the server's PostgreSQL tables. Numbered from 1, applied in order, never edited once released. */
export interface ServerPostgresMigration {
  readonly version: number;
  readonly name: string;
  /** SQL with `{schema}` where the configured schema's (quoted) name goes. */
  readonly sql: string;
}

/**
 * The server's own tables in the engine's PostgreSQL schema (ADR 0023): API tokens and webhook
 * endpoints, deliveries and the event cursor, so that replicas on separate machines share them.
 * They are the server's, not the engine's: prefixed `server_`, versioned in a table of their own
 * (`server_schema_migrations`) beside the engine's `schema_migrations`, and never loaded into the
 * engine's working copy. The webhook tables are those of the SQLite `webhooks.db`, column for
 * column; a token's scopes are a `text[]`.
 */
export const serverPostgresMigrations: readonly ServerPostgresMigration[] = [
  {
    version: 1,
    name: 'tokens, webhook endpoints, deliveries and the event cursor',
    sql: `
      CREATE TABLE {schema}.server_tokens (
        token_id text PRIMARY KEY,
        name text NOT NULL,
        scopes text[] NOT NULL,
        secret_hash text NOT NULL,
        created_at text NOT NULL,
        revoked_at text
      );
      CREATE TABLE {schema}.server_webhook_endpoints (
        webhook_id text PRIMARY KEY,
        url text NOT NULL,
        events text,
        run_id text,
        description text,
        secret_envelope text NOT NULL,
        since_event bigint NOT NULL,
        created_at text NOT NULL,
        created_by text NOT NULL,
        disabled_at text,
        disabled_reason text
      );
      CREATE TABLE {schema}.server_webhook_deliveries (
        delivery_id text PRIMARY KEY,
        webhook_id text NOT NULL REFERENCES {schema}.server_webhook_endpoints (webhook_id) ON DELETE CASCADE,
        event_id bigint NOT NULL,
        event_type text NOT NULL,
        body text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
        attempts bigint NOT NULL DEFAULT 0,
        last_status_code bigint,
        last_error text,
        next_attempt_at bigint,
        created_at text NOT NULL,
        updated_at text NOT NULL,
        UNIQUE (webhook_id, event_id)
      );
      CREATE INDEX server_webhook_deliveries_due ON {schema}.server_webhook_deliveries (status, next_attempt_at);
      CREATE TABLE {schema}.server_webhook_cursor (
        only_row smallint PRIMARY KEY CHECK (only_row = 0),
        after_event bigint NOT NULL
      );
    `,
  },
];

/** A schema name as an SQL identifier (the settings allow lowercase identifiers only; quoted anyway). */
export function quotedServerSchema(schema: string): string {
  return `"${schema.replaceAll('"', '""')}"`;
}

/**
 * Brings the server's tables up to date, in one transaction under a transaction-level advisory lock
 * of their own (however many replicas start together, one applies each step). A schema newer than
 * this server knows is refused: one Cairn version runs on every replica.
 */
export async function migrateServerPostgresSchema(
  client: pg.ClientBase,
  schema: string,
  migrations: readonly ServerPostgresMigration[] = serverPostgresMigrations,
): Promise<{ readonly applied: readonly number[] }> {
  const quoted = quotedServerSchema(schema);
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('cairn.server-schema.' || $1::text))`, [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.server_schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: string | null }>(`SELECT max(version) AS version FROM ${quoted}.server_schema_migrations`);
    const current = Number(rows[0]?.version ?? 0);
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `The server's tables in PostgreSQL schema "${schema}" have version ${current}, newer than this server knows (${latest}). Upgrade Cairn on every replica, or point engine.state.schema at another schema.`,
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
          `The server's PostgreSQL step ${migration.version} (${migration.name}) in schema "${schema}" failed: ${(error as Error).message}. Nothing was changed; check that the user may create tables in that schema.`,
          { path: 'engine.state.schema', cause: error },
        );
      }
      await client.query(`INSERT INTO ${quoted}.server_schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return { applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
