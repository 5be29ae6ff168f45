import type { PostgresMigration, PostgresMigrationLedger } from '@cairn/engine/internals';

/**
 * The server's own tables in the engine's PostgreSQL schema (ADR 0023): API tokens, webhook
 * endpoints, deliveries and the event cursor, the model gateway's quota calls, and the trigger
 * deliveries already handled, so that replicas on separate machines share them.
 * They are the server's, not the engine's: prefixed `server_`, versioned in a table of their own
 * (`server_schema_migrations`) beside the engine's `schema_migrations`, and never loaded into the
 * engine's working copy. The webhook tables are those of the SQLite `webhooks.db`, column for
 * column; a token's scopes are a `text[]`.
 */
export const serverPostgresMigrations: readonly PostgresMigration[] = [
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
  {
    // A dashboard session expires; a sign-in code (`cairn dashboard`) is one-time and expires.
    version: 2,
    name: 'token expiry and one-time sign-in codes',
    sql: `
      ALTER TABLE {schema}.server_tokens ADD COLUMN expires_at text, ADD COLUMN one_time boolean NOT NULL DEFAULT false;
    `,
  },
  {
    // Sign out revokes a dashboard session: told by this mark, not by the token's name.
    version: 3,
    name: 'dashboard sessions marked',
    sql: `
      ALTER TABLE {schema}.server_tokens ADD COLUMN session boolean NOT NULL DEFAULT false;
    `,
  },
  {
    // The model gateway's provider quotas, shared by the replicas (ADR 0033): one row per call and
    // quota key. In flight while not ended and its lease (renewed by its holder, the replica that
    // took it) lasts; counted in the rolling minute by when it started and, for tokens, ended. Rows
    // out of every count are deleted by the replicas that take calls.
    version: 4,
    name: 'model quota calls',
    sql: `
      CREATE TABLE {schema}.server_quota_calls (
        quota_key text NOT NULL,
        call_id text NOT NULL,
        holder text NOT NULL,
        started_at timestamptz NOT NULL,
        lease_until timestamptz NOT NULL,
        ended_at timestamptz,
        tokens bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (quota_key, call_id)
      );
      CREATE INDEX server_quota_calls_held ON {schema}.server_quota_calls (holder) WHERE ended_at IS NULL;
    `,
  },
  {
    // A dashboard session made by a sign-in through the identity provider acts as the person.
    version: 5,
    name: 'sessions of people signed in through the identity provider',
    sql: `
      ALTER TABLE {schema}.server_tokens ADD COLUMN person text;
    `,
  },
  {
    // ... with the groups the provider put them in, which an approval policy's `from` may name.
    version: 6,
    name: "the groups of a signed-in person's session",
    sql: `
      ALTER TABLE {schema}.server_tokens ADD COLUMN groups text[];
    `,
  },
  {
    // The trigger deliveries already handled (GitHub's and Standard Webhooks' ids), shared by the
    // replicas so a redelivery to another one runs nothing: those of the SQLite `triggers.db`,
    // column for column (received_at in milliseconds), pruned by the replicas that claim ids.
    version: 7,
    name: 'trigger deliveries already handled',
    sql: `
      CREATE TABLE {schema}.server_trigger_deliveries (
        delivery_id text PRIMARY KEY,
        received_at bigint NOT NULL
      );
      CREATE INDEX server_trigger_deliveries_received ON {schema}.server_trigger_deliveries (received_at);
    `,
  },
  {
    // Who each token belongs to (ADR 0046), which approval policies count once however many
    // tokens they hold; none on the tokens made before: each is its own.
    version: 8,
    name: 'the principal a token belongs to',
    sql: `
      ALTER TABLE {schema}.server_tokens ADD COLUMN principal text;
    `,
  },
  {
    // The review loop's follow-ups and the pull requests whose loop was stopped or resumed (ADR
    // 0052): those of the SQLite `triggers.db`, column for column (times in milliseconds).
    version: 9,
    name: 'the review loop',
    sql: `
      CREATE TABLE {schema}.server_review_follow_ups (
        feedback_id text PRIMARY KEY,
        repository text NOT NULL,
        pull_number integer NOT NULL,
        requested_at bigint NOT NULL,
        run_id text,
        detail text NOT NULL,
        replied_at bigint
      );
      CREATE INDEX server_review_follow_ups_pull ON {schema}.server_review_follow_ups (repository, pull_number, requested_at);
      CREATE INDEX server_review_follow_ups_requested ON {schema}.server_review_follow_ups (requested_at);
      CREATE INDEX server_review_follow_ups_run ON {schema}.server_review_follow_ups (run_id);
      CREATE TABLE {schema}.server_review_pull_requests (
        repository text NOT NULL,
        pull_number integer NOT NULL,
        stopped_by text,
        counted_from bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (repository, pull_number)
      );
    `,
  },
];

/** The server's steps are recorded apart from the engine's, and applied under a lock of their own. */
export const serverMigrationLedger: PostgresMigrationLedger = {
  table: 'server_schema_migrations',
  lockName: 'cairn.server-schema.',
  subject: "The server's record of its tables in PostgreSQL schema",
  knower: 'this server',
};
