import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { isCairnError } from '@cairn/protocol';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import { quickCheck } from '../store/sqlite/sqlite-quick-check.ts';
import { postgresDoctorReads, type DoctorClient } from '../store/postgres/postgres-doctor-reads.ts';
import { serverMigrationLedger, serverPostgresMigrations } from '../store/postgres/server-postgres-schema.ts';

/** How a diagnosis records one finding (`diagnose-server.ts`'s `note`). */
type Note = (check: string, ok: boolean, detail: string, fix?: string) => void;

/** What the state-store findings tell the rest of `cairn doctor`. */
export interface StateDiagnosis {
  /** False when the store cannot be reached at all: composing the server would only fail again. */
  readonly reachable: boolean;
}

/**
 * The findings on the engine's state store (ADR 0023), made before the server is composed so that
 * they describe the store as found (composing a PostgreSQL server applies the schema's missing
 * steps). SQLite: the file, its size and `PRAGMA quick_check`, opened read-only. PostgreSQL: the
 * connection (a refusal names host, port, database and user, never the password), the schema
 * version applied against the one this server needs, who holds the writer lease, and that the
 * session settings the connection asks for took.
 */
export async function diagnoseStateStore(loaded: LoadedServerConfig, note: Note): Promise<StateDiagnosis> {
  const { state } = loaded.config.engine;
  if (state.kind === 'postgres') return diagnosePostgresState(state, note);
  diagnoseSqliteState(loaded.paths.database, note);
  return { reachable: true };
}

function diagnoseSqliteState(file: string, note: Note): void {
  if (!existsSync(file)) {
    note('state store', true, `SQLite ${file} does not exist yet: the server's first start creates it`);
    return;
  }
  const size = statSync(file).size;
  let database: Database.Database | undefined;
  try {
    database = new Database(file, { readonly: true, fileMustExist: true });
    const { ok, problems } = quickCheck(database);
    note(
      'state store',
      ok,
      ok
        ? `SQLite ${file} (${formatBytes(size)}): PRAGMA quick_check ok`
        : `SQLite ${file} (${formatBytes(size)}): PRAGMA quick_check found ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''}`,
      'stop the server and restore the database from the last backup (cairn restore); see docs/operations/backup-and-restore.md',
    );
  } catch (error) {
    note(
      'state store',
      false,
      `SQLite ${file} (${formatBytes(size)}) cannot be read as a database: ${(error as Error).message}`,
      'stop the server and restore the database from the last backup (cairn restore), or fix engine.state.path if it names the wrong file',
    );
  } finally {
    database?.close();
  }
}

/** Which record of applied steps a schema check reads, and how many steps this server knows. */
interface SchemaLedger {
  readonly check: string;
  /** What the steps make, as a finding names it when there are none yet ("Cairn tables"). */
  readonly tables: string;
  /** What is at a version, given the schema's name (`schema "cairn"`), and its verb. */
  readonly subject: (schema: string) => string;
  readonly verb: 'is' | 'are';
  readonly ledger: string;
  readonly needed: number;
}

// Notes how far a ledger's steps are applied against what this server needs; returns the version
// applied (0: none yet). A server refuses a schema newer than it knows, and applies missing steps.
async function noteSchemaVersion(
  client: DoctorClient,
  schemaName: string,
  note: Note,
  { check, tables, subject, verb, ledger, needed }: SchemaLedger,
): Promise<number> {
  const { quotedSchema } = await import('@cairn/engine/internals');
  const schema = quotedSchema(schemaName);
  const applied = await postgresDoctorReads.ledgerVersion(client, schema, ledger);
  const what = `${subject(schemaName)} ${verb}`;
  if (applied === 0) note(check, true, `schema "${schemaName}" has no ${tables} yet: this server creates them (version ${needed}) when it starts`);
  else if (applied > needed)
    note(
      check,
      false,
      `${what} at version ${applied}; this server knows only up to ${needed}: it refuses to start on it`,
      'run the same (newest) Cairn version on every replica: upgrade this one',
    );
  else
    note(
      check,
      true,
      applied === needed
        ? `${what} at version ${applied}, the one this server needs`
        : `${what} at version ${applied}; this server needs ${needed} and applies the missing steps when it starts (replicas of an older version then refuse it: upgrade them all)`,
    );
  return applied;
}

type PostgresState = Extract<LoadedServerConfig['config']['engine']['state'], { kind: 'postgres' }>;

async function diagnosePostgresState(state: PostgresState, note: Note): Promise<StateDiagnosis> {
  const { connectPostgres, createPostgresStateStore, describePostgresTarget, parsePostgresStateSettings, postgresMigrations, quotedSchema } =
    await import('@cairn/engine/internals');
  const settings = parsePostgresStateSettings(state);
  let client: Awaited<ReturnType<typeof connectPostgres>>;
  try {
    client = await connectPostgres(settings, 'reader');
  } catch (error) {
    // connectPostgres's refusal names host, port, database and user and says why; never the password.
    note(
      'state connection',
      false,
      isCairnError(error) ? error.message : String(error),
      'fix engine.state (host, port, database, user, password or connectionString; or PGHOST, PGPASSWORD, ... in the environment) or the PostgreSQL server it names',
    );
    return { reachable: false };
  }
  const target = describePostgresTarget(client);
  const schema = quotedSchema(settings.schema);
  try {
    const serverVersion = await postgresDoctorReads.serverVersion(client);
    note(
      'state connection',
      true,
      `${target}: connected (${serverVersion ? `PostgreSQL ${serverVersion}` : 'PostgreSQL; could not read its version (server_version)'})`,
    );

    const applied = await noteSchemaVersion(client, settings.schema, note, {
      check: 'state schema',
      tables: 'Cairn tables',
      subject: (name) => `schema "${name}"`,
      verb: 'is',
      ledger: 'schema_migrations',
      needed: postgresMigrations.at(-1)!.version,
    });
    // The server's own tables (tokens, webhooks) are versioned apart, by the same rule.
    await noteSchemaVersion(client, settings.schema, note, {
      check: 'server tables',
      tables: 'server tables (tokens, webhooks)',
      subject: (name) => `the server tables (tokens, webhooks) of schema "${name}"`,
      verb: 'are',
      ledger: serverMigrationLedger.table,
      needed: serverPostgresMigrations.at(-1)!.version,
    });

    if (applied === 0) note('state writer lease', true, `not checked: schema "${settings.schema}" has no Cairn tables yet, so no replica has run`);
    else {
      const store = createPostgresStateStore(state);
      const leader = await store.leader(client);
      if (leader.held) {
        const leaderSince = await postgresDoctorReads.leaderSince(client, schema, settings.lockKey);
        const since = leaderSince ? ` since ${leaderSince.toISOString()}` : '';
        note(
          'state writer lease',
          true,
          `held (advisory lock ${settings.lockKey}) by instance ${leader.instanceId ?? 'unrecorded'} on host ${leader.host ?? 'unknown'}, pid ${leader.pid ?? 'unknown'}${since}`,
        );
      } else
        note(
          'state writer lease',
          false,
          `nobody holds the writer lease (advisory lock ${settings.lockKey} in database "${client.database ?? ''}"): no engine runs, submitted work waits`,
          'start a replica (cairn serve with this config); if replicas run, check their logs for why none takes the lease (same engine.state.schema and lockKey, the database reachable from them)',
        );
    }

    await diagnoseSessionSettings(client, settings, note);
    return { reachable: true };
  } catch (error) {
    note(
      'state connection',
      false,
      `${target}: ${(error as Error).message}`,
      'check that the user may read the schema and pg_locks, and that the database is healthy',
    );
    return { reachable: true };
  } finally {
    await client.end().catch(() => {});
  }
}

// Reads back the session settings the connection asked for (`postgresClientConfig`): a pooler
// between Cairn and PostgreSQL (pgbouncer in transaction mode) or a server that ignores startup
// options would silently drop them, and with them the failover timing the docs promise.
async function diagnoseSessionSettings(
  client: DoctorClient & { readonly host: string },
  settings: { readonly idleInTransactionTimeoutMs: number; readonly statementTimeoutMs: number; readonly keepAliveMs: number },
  note: Note,
): Promise<void> {
  const read = (name: string): Promise<string> => postgresDoctorReads.formattedSetting(client, name);
  // pg_settings gives each value in its base unit (ms, s), which SHOW formats (`1min`).
  const value = await postgresDoctorReads.sessionSettings(client);
  const wrong: string[] = [];
  const idle = value['idle_in_transaction_session_timeout'];
  if (idle !== settings.idleInTransactionTimeoutMs)
    wrong.push(`idle_in_transaction_session_timeout is ${await read('idle_in_transaction_session_timeout')}, not ${settings.idleInTransactionTimeoutMs} ms`);
  if (value['statement_timeout'] !== settings.statementTimeoutMs)
    wrong.push(`statement_timeout is ${await read('statement_timeout')}, not ${settings.statementTimeoutMs} ms`);
  const keepAliveSeconds = Math.max(1, Math.round(settings.keepAliveMs / 1000));
  const socket = client.host.startsWith('/');
  // Over a unix socket there is no TCP: PostgreSQL reports 0 and keepalives do not apply.
  if (!socket && value['tcp_keepalives_idle'] !== keepAliveSeconds)
    wrong.push(`tcp_keepalives_idle is ${value['tcp_keepalives_idle']} s, not ${keepAliveSeconds} s`);
  const keepalives = socket
    ? 'keepalives do not apply (unix socket)'
    : `tcp_keepalives_idle ${value['tcp_keepalives_idle']} s, interval ${value['tcp_keepalives_interval']} s, count ${value['tcp_keepalives_count']}`;
  note(
    'state session settings',
    wrong.length === 0,
    wrong.length === 0
      ? `read back on this connection: idle_in_transaction_session_timeout ${idle} ms, statement_timeout ${value['statement_timeout']} ms, ${keepalives}`
      : `read back on this connection: ${wrong.join('; ')}`,
    'connect Cairn to PostgreSQL directly, or through a session-mode pooler that passes startup options (-c name=value)',
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
