// `cairn doctor`'s state-store findings, against a real SQLite file and the real test PostgreSQL:
// each finding says what it found, a refusal names where it went and never the password, and the
// writer lease is read from the database as another replica holds it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgresStateStore, migratePostgresSchema, postgresMigrations } from '@cairn/engine/internals';
import Database from 'better-sqlite3';
import { afterEach, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import type { Diagnosis } from './diagnose-server.ts';
import { diagnoseServer } from './diagnose-server.ts';
import { diagnoseStateStore } from './diagnose-state.ts';
import { initServer } from './init-server.ts';
import { serverMigrationLedger, serverPostgresMigrations } from '../store/postgres/server-postgres-schema.ts';

/** The engine's latest PostgreSQL schema step: what a schema this server made is at. */
const latestStep = postgresMigrations.at(-1)!.version;
/** The server's own tables' latest step (tokens, webhooks: `server_schema_migrations`). */
const latestServerStep = serverPostgresMigrations.at(-1)!.version;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server `cairn init` made, with `state` as its engine.state. */
async function serverWith(state: Record<string, unknown> | undefined): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-doctor-state-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  await initServer(directory);
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, stringifyYaml({ ...config, executor: { sandbox: 'none' }, ...(state ? { engine: { ...(config['engine'] as object), state } } : {}) }));
  return directory;
}

async function testDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  return database;
}

/** Only the state store's findings, by check. */
async function stateFindings(directory: string): Promise<Record<string, Diagnosis>> {
  const findings: Diagnosis[] = [];
  await diagnoseStateStore(loadServerConfig({ directory, env: {} }), (check, ok, detail, fix) =>
    findings.push({ check, ok, detail, ...(ok || fix === undefined ? {} : { fix }) }),
  );
  return Object.fromEntries(findings.map((finding) => [finding.check, finding]));
}

test(
  'SQLite: a missing file is reported as made on first start; a sound one passes quick_check with its size; damaged pages and a file that is no database fail with the fix',
  { timeout: 60_000 },
  async () => {
    const directory = await serverWith(undefined);
    const file = join(directory, 'cairn-data', 'cairn.db');
    expect((await stateFindings(directory))['state store']).toMatchObject({ ok: true, detail: expect.stringContaining('does not exist yet') });

    // The doctor itself opens the engine, which creates the file.
    const all = await diagnoseServer(loadServerConfig({ directory, env: {} }));
    expect(all.find((finding) => finding.check === 'database')).toMatchObject({ ok: true });
    expect((await stateFindings(directory))['state store']).toMatchObject({
      ok: true,
      detail: expect.stringMatching(new RegExp(`^SQLite ${file.replaceAll('/', '\\/')} \\([0-9.]+ (B|KiB|MiB)\\): PRAGMA quick_check ok$`)),
    });

    // Pages that no longer hold what their b-tree says: the file opens, quick_check names the damage.
    const damagedFile = join(directory, 'damaged.db');
    const sqlite = new Database(damagedFile);
    sqlite.exec('CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT); CREATE INDEX t_b ON t (b);');
    const insert = sqlite.prepare('INSERT INTO t (b) VALUES (?)');
    for (let row = 0; row < 2000; row++) insert.run(`${'x'.repeat(50)}${row}`);
    sqlite.close();
    const bytes = readFileSync(damagedFile);
    const pageSize = bytes.readUInt16BE(16);
    bytes.fill(0x55, 4 * pageSize + 8, 4 * pageSize + 200);
    writeFileSync(damagedFile, bytes);
    const config = join(directory, 'cairn.config.yaml');
    const original = readFileSync(config, 'utf8');
    const parsed = parseYaml(original) as { engine?: object };
    writeFileSync(config, stringifyYaml({ ...parsed, engine: { ...parsed.engine, state: { kind: 'sqlite', path: './damaged.db' } } }));
    const found = (await stateFindings(directory))['state store']!;
    expect(found).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/damaged\.db \(\d+\.\d KiB\): PRAGMA quick_check found \d+ problems: Tree \d+ page 5 /),
    });
    expect(found.fix).toContain('cairn restore');

    writeFileSync(file, Buffer.alloc(8192, 0x41));
    writeFileSync(config, original);
    const damaged = (await stateFindings(directory))['state store']!;
    expect(damaged).toMatchObject({ ok: false, detail: expect.stringContaining('cannot be read as a database') });
    expect(damaged.fix).toContain('cairn restore');
  },
);

test('PostgreSQL: a refused connection fails naming host, port, database and user, never the password, and the doctor stops there', async () => {
  const database = await testDatabase();
  // A port nothing listens on (the test cluster's port plus one is not one of ours).
  const password = 'doctor-secret-password-7f3a';
  const directory = await serverWith({
    kind: 'postgres',
    host: '127.0.0.1',
    port: 1,
    user: 'cairn_doctor',
    password,
    database: database.name,
    connectTimeoutMs: 2_000,
  });
  const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
  const connection = findings.find((finding) => finding.check === 'state connection')!;
  expect(connection.ok).toBe(false);
  expect(connection.detail).toContain(`127.0.0.1:1, database "${database.name}", user "cairn_doctor"`);
  expect(connection.fix).toContain('engine.state');
  expect(JSON.stringify(findings)).not.toContain(password);
  // Composing would only fail again on the same connection: no composition finding follows.
  expect(findings.find((finding) => finding.check === 'composition')).toBeUndefined();
});

test('PostgreSQL: schema version, the writer lease held by another replica (instance, host, pid, since), then nobody, and the session settings read back', async () => {
  const database = await testDatabase();
  const state = { ...database.settings, idleInTransactionTimeoutMs: 45_000, statementTimeoutMs: 120_000, keepAliveMs: 7_000 };
  const directory = await serverWith(state);

  const fresh = await stateFindings(directory);
  expect(fresh['state connection']).toMatchObject({ ok: true, detail: expect.stringContaining(`database "${database.name}"`) });
  // The version the server reports, as PostgreSQL itself says it (not `undefined`).
  const client = await database.client();
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  expect(fresh['state connection']!.detail).toContain(`: connected (PostgreSQL ${rows[0]!.server_version})`);
  expect(fresh['state schema']).toMatchObject({ ok: true, detail: expect.stringContaining('has no Cairn tables yet') });
  expect(fresh['server tables']).toMatchObject({
    ok: true,
    detail: `schema "cairn" has no server tables (tokens, webhooks) yet: this server creates them (version ${latestServerStep}) when it starts`,
  });
  expect(fresh['state writer lease']!.detail).toMatch(/^not checked/);
  expect(fresh['state session settings']).toMatchObject({
    ok: true,
    detail:
      'read back on this connection: idle_in_transaction_session_timeout 45000 ms, statement_timeout 120000 ms, tcp_keepalives_idle 7 s, interval 3 s, count 3',
  });

  const store = createPostgresStateStore(state);
  const writer = await store.acquireWriter({ instanceId: 'replica-a' });
  let released = false;
  cleanups.push(() => (released ? undefined : writer.release()));
  const leading = await stateFindings(directory);
  expect(leading['state schema']).toMatchObject({ ok: true, detail: `schema "cairn" is at version ${latestStep}, the one this server needs` });
  expect(leading['state writer lease']).toMatchObject({
    ok: true,
    detail: expect.stringMatching(
      new RegExp(`^held \\(advisory lock \\d+\\) by instance replica-a on host ${hostname()}, pid ${process.pid} since \\d{4}-\\d\\d-\\d\\dT`),
    ),
  });

  await writer.release();
  released = true;
  const orphan = await stateFindings(directory);
  expect(orphan['state writer lease']).toMatchObject({ ok: false, detail: expect.stringContaining('nobody holds the writer lease') });
  expect(orphan['state writer lease']!.fix).toContain('start a replica');
});

test('PostgreSQL: a schema newer than this server fails with the upgrade fix', async () => {
  const database = await testDatabase();
  const directory = await serverWith(database.settings);
  await createPostgresStateStore(database.settings).migrate();
  const client = await database.client();
  await client.query(`INSERT INTO cairn.schema_migrations (version, name) VALUES (99, 'from a newer Cairn')`);
  const findings = await stateFindings(directory);
  expect(findings['state schema']).toMatchObject({
    ok: false,
    detail: expect.stringContaining(`is at version 99; this server knows only up to ${latestStep}`),
  });
  expect(findings['state schema']!.fix).toContain('upgrade');
});

test("PostgreSQL: the server's own tables newer than this server fail with the upgrade fix, the engine's still pass", async () => {
  const database = await testDatabase();
  const directory = await serverWith(database.settings);
  await createPostgresStateStore(database.settings).migrate();
  const client = await database.client();
  await migratePostgresSchema(client, 'cairn', serverPostgresMigrations, serverMigrationLedger);
  await client.query(`INSERT INTO cairn.server_schema_migrations (version, name) VALUES (99, 'from a newer Cairn')`);
  const findings = await stateFindings(directory);
  expect(findings['state schema']).toMatchObject({ ok: true, detail: `schema "cairn" is at version ${latestStep}, the one this server needs` });
  expect(findings['server tables']).toMatchObject({
    ok: false,
    detail: `the server tables (tokens, webhooks) of schema "cairn" are at version 99; this server knows only up to ${latestServerStep}: it refuses to start on it`,
  });
  expect(findings['server tables']!.fix).toContain('upgrade');
});

test('PostgreSQL: the whole doctor composes on the database and names it in its database finding, after the state findings', { timeout: 60_000 }, async () => {
  const database = await testDatabase();
  const directory = await serverWith(database.settings);
  const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
  const checks = findings.map((finding) => finding.check);
  expect(checks.indexOf('state connection')).toBeLessThan(checks.indexOf('keys'));
  expect(findings.find((finding) => finding.check === 'database')).toMatchObject({ ok: true, detail: 'PostgreSQL schema "cairn" (audit log: 0 entries)' });
  // Composing applied the schema: a second doctor finds it at the version this server needs.
  const again = await stateFindings(directory);
  expect(again['state schema']).toMatchObject({
    ok: true,
    detail: `schema "cairn" is at version ${latestStep}, the one this server needs`,
  });
  expect(again['server tables']).toMatchObject({
    ok: true,
    detail: `the server tables (tokens, webhooks) of schema "cairn" are at version ${latestServerStep}, the one this server needs`,
  });
});
