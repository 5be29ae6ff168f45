import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { connectPostgres, parsePostgresStateSettings } from './postgres-settings.ts';
import { createTestDatabase, postgresConnection, type TestDatabase } from './postgres.test-support.ts';

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

describe('PostgreSQL connection settings', () => {
  it('connects with keepalives, its purpose as application_name, and the idle-in-transaction and statement timeouts set', async () => {
    database = await createTestDatabase();
    const client = await connectPostgres(
      parsePostgresStateSettings({ ...database.settings, idleInTransactionTimeoutMs: 45_000, statementTimeoutMs: 120_000, keepAliveMs: 7_000 }),
      'writer',
    );
    try {
      const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
      expect(await show('idle_in_transaction_session_timeout')).toBe('45s');
      expect(await show('statement_timeout')).toBe('2min');
      expect(await show('application_name')).toBe('cairn-writer');
      // Both ends probe: the server's keepalive settings for this session, and the client socket's
      // keepalive timer as the kernel reports it (ss -o).
      expect(await show('tcp_keepalives_idle')).toBe('7');
      expect(await show('tcp_keepalives_interval')).toBe('3');
      expect(await show('tcp_keepalives_count')).toBe('3');
      const localPort = (client as unknown as { connection: { stream: { localPort: number } } }).connection.stream.localPort;
      const sockets = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${localPort} )`], { encoding: 'utf8' });
      expect(sockets).toMatch(/timer:\(keepalive,/);
      const oracle = await database.client();
      const { rows } = await oracle.query<{ application_name: string }>(`SELECT application_name FROM pg_stat_activity WHERE pid = $1`, [
        (client as unknown as { processID: number }).processID,
      ]);
      expect(rows[0]?.application_name).toBe('cairn-writer');
    } finally {
      await client.end();
    }
  });

  it('applies defaults: schema cairn, a fixed lock key, a 60 s idle-in-transaction timeout', async () => {
    database = await createTestDatabase();
    const settings = parsePostgresStateSettings(database.settings);
    expect(settings.schema).toBe('cairn');
    expect(settings.lockKey).toBe(0x63616972);
    // Another schema, another default lease: two deployments in one database do not wait on each other.
    const other = parsePostgresStateSettings({ ...database.settings, schema: 'team_b' }).lockKey;
    expect(other).not.toBe(0x63616972);
    expect(parsePostgresStateSettings({ ...database.settings, schema: 'team_b' }).lockKey).toBe(other);
    expect(parsePostgresStateSettings({ ...database.settings, schema: 'team_b', lockKey: 7 }).lockKey).toBe(7);
    const client = await connectPostgres(settings, 'reader');
    try {
      expect(
        (await client.query<{ idle_in_transaction_session_timeout: string }>('SHOW idle_in_transaction_session_timeout')).rows[0]!
          .idle_in_transaction_session_timeout,
      ).toBe('1min');
      expect((await client.query<{ tcp_keepalives_idle: string }>('SHOW tcp_keepalives_idle')).rows[0]!.tcp_keepalives_idle).toBe('10');
    } finally {
      await client.end();
    }
  });

  it('connects through the unix socket folder given as host', async () => {
    database = await createTestDatabase();
    const connection = postgresConnection();
    const client = await connectPostgres(parsePostgresStateSettings({ ...database.settings, host: connection.socketDirectory }), 'reader');
    try {
      expect((await client.query<{ address: string | null }>('SELECT inet_client_addr()::text AS address')).rows[0]!.address).toBeNull();
    } finally {
      await client.end();
    }
  });

  it('refuses a wrong password with CAIRN_STATE_UNAVAILABLE naming host, port, database and user, never the password', async () => {
    database = await createTestDatabase();
    const password = 'a-wrong-password-that-must-not-leak';
    const error = await connectPostgres(parsePostgresStateSettings({ ...database.settings, password }), 'writer').then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isCairnError(error, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`${database.settings.host}:${database.settings.port}`);
    expect(message).toContain(database.name);
    expect(message).toContain('engine.state.password');
    expect(message).not.toContain(password);
    expect(JSON.stringify((error as { toJSON(): unknown }).toJSON())).not.toContain(password);
  });

  it('says nothing listens when the port is closed, and that a database is missing when it is', async () => {
    database = await createTestDatabase();
    const closed = await connectPostgres(parsePostgresStateSettings({ ...database.settings, port: 1, connectTimeoutMs: 2_000 }), 'writer').catch(
      (error: unknown) => error,
    );
    expect(isCairnError(closed, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((closed as Error).message).toMatch(/127\.0\.0\.1:1\b.*nothing listens there/);
    const missing = await connectPostgres(parsePostgresStateSettings({ ...database.settings, database: 'cairn_no_such_database' }), 'writer').catch(
      (error: unknown) => error,
    );
    expect(isCairnError(missing, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((missing as Error).message).toContain('the database does not exist');
  });

  it('names a CA file it cannot read, and refuses TLS a server does not offer', async () => {
    database = await createTestDatabase();
    const missing = await connectPostgres(parsePostgresStateSettings({ ...database.settings, ssl: { ca: '/nonexistent/ca.pem' } }), 'writer').catch(
      (error: unknown) => error,
    );
    expect(isCairnError(missing, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((missing as { path: string }).path).toBe('engine.state.ssl.ca');
    expect((missing as Error).message).toContain('/nonexistent/ca.pem');
    // The test cluster has no TLS: asking for it is refused, not silently downgraded.
    const refused = await connectPostgres(parsePostgresStateSettings({ ...database.settings, ssl: true }), 'writer').catch((error: unknown) => error);
    expect(isCairnError(refused, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
    expect((refused as Error).message).toMatch(/does not support SSL/);
  });

  it('lists every bad option at once under engine.state', () => {
    let error: unknown;
    try {
      parsePostgresStateSettings({ kind: 'postgres', port: 70_000, schema: 'Bad-Name', lockKey: -1, colour: 'blue' });
    } catch (caught) {
      error = caught;
    }
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    const paths = (error as { issues: { path: string }[] }).issues.map((issue) => issue.path).sort();
    expect(paths).toEqual(['engine.state.colour', 'engine.state.lockKey', 'engine.state.port', 'engine.state.schema']);
  });
});
