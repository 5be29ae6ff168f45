// The server's tables in the engine's PostgreSQL schema: made once however many replicas open them
// together, beside the engine's own versioning; a version newer than this server is refused; an
// unreachable database is CAIRN_STATE_UNAVAILABLE naming where, never the password; a connection the
// database ends in the middle of a transaction fails that transaction, not the process.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { PostgresTokenStore } from '../../capabilities/access/store/postgres-token-store.ts';
import { ServerPostgres } from './server-postgres.ts';
import { serverPostgresMigrations } from './server-postgres-schema.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test('replicas opening together make the tables once, in the configured schema, versioned apart from the engine', async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const settings = { ...database.settings, schema: 'tenant_a' };
  const opened = await Promise.all([ServerPostgres.open(settings), ServerPostgres.open(settings), ServerPostgres.open(settings)]);
  cleanups.push(() => Promise.all(opened.map((one) => one.close())).then(() => undefined));
  const oracle = await database.client();
  const versions = await oracle.query<{ version: string }>('SELECT version FROM tenant_a.server_schema_migrations ORDER BY version');
  expect(versions.rows.map((row) => Number(row.version))).toEqual(serverPostgresMigrations.map((migration) => migration.version));
  const tables = await oracle.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'tenant_a' ORDER BY table_name",
  );
  expect(tables.rows.map((row) => row.table_name)).toEqual([
    'server_quota_calls',
    'server_review_follow_ups',
    'server_review_pull_requests',
    'server_schema_migrations',
    'server_tokens',
    'server_trigger_deliveries',
    'server_webhook_cursor',
    'server_webhook_deliveries',
    'server_webhook_endpoints',
  ]);
});

test('tokens of a step-1 database (before expiry, one-time codes and session marks) keep working after the later steps add the columns', async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const before = await ServerPostgres.open(database.settings);
  const { token, record } = await new PostgresTokenStore(before).create('ci', ['runs:read']);
  await before.close();
  // Back to step 1 as an older server left it: no columns nor tables of the later steps, no record of them.
  const oracle = await database.client();
  await oracle.query(
    'ALTER TABLE cairn.server_tokens DROP COLUMN expires_at, DROP COLUMN one_time, DROP COLUMN session, DROP COLUMN person, DROP COLUMN groups, DROP COLUMN principal',
  );
  await oracle.query('DROP TABLE cairn.server_quota_calls, cairn.server_trigger_deliveries, cairn.server_review_follow_ups, cairn.server_review_pull_requests');
  await oracle.query('DELETE FROM cairn.server_schema_migrations WHERE version > 1');
  const after = await ServerPostgres.open(database.settings);
  cleanups.push(() => after.close());
  const versions = await oracle.query<{ version: string }>('SELECT version FROM cairn.server_schema_migrations ORDER BY version');
  expect(versions.rows.map((row) => Number(row.version))).toEqual(serverPostgresMigrations.map((migration) => migration.version));
  const tokens = new PostgresTokenStore(after);
  expect(await tokens.verify(token)).toEqual(record);
  expect(await tokens.hasLiveTokens()).toBe(true);
  expect(await tokens.redeem(token)).toBeUndefined();
});

test('tables of a newer server are refused with the upgrade fix, naming engine.state.schema', async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  await (await ServerPostgres.open(database.settings)).close();
  const oracle = await database.client();
  await oracle.query("INSERT INTO cairn.server_schema_migrations (version, name) VALUES (99, 'from the future')");
  await expect(ServerPostgres.open(database.settings)).rejects.toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'engine.state.schema',
    // The latest step this server knows, whichever it is.
    message: expect.stringMatching(
      new RegExp(`version 99, newer than this server knows \\(${serverPostgresMigrations.at(-1)!.version}\\)\\. Upgrade Cairn on every replica`),
    ),
  });
});

test('an unreachable database is CAIRN_STATE_UNAVAILABLE naming host, port and database, never the password', async () => {
  // A port that accepts and closes at once: nothing there speaks PostgreSQL.
  const silent = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  const port = (silent.address() as AddressInfo).port;
  const refusal = ServerPostgres.open({ kind: 'postgres', host: '127.0.0.1', port, database: 'nowhere', user: 'cairn', password: 'hunter2-secret' });
  await expect(refusal).rejects.toMatchObject({
    code: 'CAIRN_STATE_UNAVAILABLE',
    path: 'config.engine.state',
    message: expect.stringContaining(`PostgreSQL at 127.0.0.1:${port}, database "nowhere"`),
  });
  await expect(refusal).rejects.not.toMatchObject({ message: expect.stringContaining('hunter2-secret') });
});

test('a connection the database ends between two statements of a transaction fails that transaction, not the process; the next one works', async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const opened = await ServerPostgres.open(database.settings);
  cleanups.push(() => opened.close());
  const oracle = await database.client();
  const ended = opened.transaction(async (client) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const closed = new Promise((resolve) => client.once('end', resolve));
    // The FATAL notice reaches the connection while no statement of its own is running.
    await oracle.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await closed;
    await client.query('SELECT 1');
  });
  await expect(ended).rejects.toMatchObject({ code: 'CAIRN_STATE_UNAVAILABLE', message: expect.stringContaining('terminating connection') });
  await expect(opened.query<{ one: number }>('SELECT 1 AS one')).resolves.toMatchObject({ rows: [{ one: 1 }] });
});
