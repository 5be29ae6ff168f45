import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect } from 'vitest';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { engineTables } from '../change-capture.ts';
import type { PostgresStateSettings } from './postgres-settings.ts';

/**
 * How tests reach the test PostgreSQL: the `connection.json` that `scripts/postgres.sh` writes,
 * found in `$CAIRN_POSTGRES_DIR` (or the checkout's `.tools/postgres`).
 */
export interface PostgresConnection {
  /** The loopback address the cluster listens on. */
  readonly host: string;
  /** The folder holding its unix socket. */
  readonly socketDirectory: string;
  readonly port: number;
  /** A superuser role for tests. */
  readonly user: string;
  readonly password: string;
  /** A database that always exists (to create others from). */
  readonly database: string;
}

const connectionFile = process.env['CAIRN_POSTGRES_DIR']
  ? `${process.env['CAIRN_POSTGRES_DIR']}/connection.json`
  : fileURLToPath(new URL('../../../../../.tools/postgres/connection.json', import.meta.url));

/** The running test cluster's connection; a missing one fails the test, naming the script to run. */
export function postgresConnection(): PostgresConnection {
  if (!existsSync(connectionFile))
    throw new Error(`No test PostgreSQL: ${connectionFile} is missing. Start one with \`bash scripts/postgres.sh start\` (the README's test command does).`);
  return JSON.parse(readFileSync(connectionFile, 'utf8')) as PostgresConnection;
}

/** A fresh database of its own for one test, its state-store settings, and how to drop it. */
export interface TestDatabase {
  readonly name: string;
  /** Settings of a PostgreSQL state store on this database, over loopback TCP. */
  readonly settings: PostgresStateSettings & { readonly host: string; readonly port: number; readonly database: string };
  /** A plain client on the database (an oracle: it reads what the store wrote, not through it). */
  client(): Promise<pg.Client>;
  /** Ends every connection to the database and drops it. */
  drop(): Promise<void>;
}

async function adminClient(connection: PostgresConnection): Promise<pg.Client> {
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    user: connection.user,
    password: connection.password,
    database: connection.database,
  });
  await client.connect();
  return client;
}

/** Creates `cairn_test_<random>`; call `drop()` when done (in `afterEach`/`onTestFinished`). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const connection = postgresConnection();
  const name = `cairn_test_${randomBytes(6).toString('hex')}`;
  const admin = await adminClient(connection);
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const opened: pg.Client[] = [];
  return {
    name,
    settings: { kind: 'postgres', host: connection.host, port: connection.port, user: connection.user, password: connection.password, database: name },
    async client() {
      const client = new pg.Client({ host: connection.host, port: connection.port, user: connection.user, password: connection.password, database: name });
      client.on('error', () => {});
      await client.connect();
      opened.push(client);
      return client;
    },
    async drop() {
      await Promise.all(opened.map((client) => client.end().catch(() => {})));
      const dropper = await adminClient(connection);
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/**
 * Runs `send` while a second connection holds `engine_commands` locked, waits until a command
 * sender's insert (`cairn-commands`) waits on that lock, ends that session and lets the lock go: a
 * command cut off under its insert, before any answer. Watched from a third connection, because
 * a transaction reads `pg_stat_activity` once. Resolves with what `send` resolved or threw.
 */
export async function cutOffCommandInsert<T>(database: TestDatabase, send: () => Promise<T>): Promise<{ result: T } | { error: unknown }> {
  const watcher = await database.client();
  const holder = await database.client();
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE cairn.engine_commands IN ACCESS EXCLUSIVE MODE');
  const sent = send().then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  const waiting = `SELECT pid FROM pg_stat_activity WHERE application_name = 'cairn-commands' AND datname = current_database() AND wait_event_type = 'Lock'`;
  // However long a loaded machine takes to get the insert there (poll's default is 1 s).
  await expect.poll(async () => (await watcher.query(waiting)).rowCount, { timeout: 60_000, interval: 20 }).toBe(1);
  await watcher.query(`SELECT pg_terminate_backend(pid) FROM (${waiting}) AS waiting`);
  await holder.query('ROLLBACK');
  return sent;
}

/** Every engine table's rows in primary-key order: two working copies hold the same state when these are equal. */
export function workingCopyContents(copy: EngineDatabase): Record<string, unknown[]> {
  return Object.fromEntries(
    engineTables(copy).map((table) => [
      table.name,
      copy.prepare(`SELECT * FROM "${table.name}" ORDER BY ${table.primaryKey.map((column) => `"${column}"`).join(', ')}`).all(),
    ]),
  );
}
