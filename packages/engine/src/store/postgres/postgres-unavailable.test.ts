// Which PostgreSQL failures are the database being unavailable (CAIRN_STATE_UNAVAILABLE: try again)
// and which are a fault in what was sent (left as they are, to be CAIRN_INTERNAL): every error here
// is a real one, from a real server or a real socket.
import { CairnError, isCairnError } from '@cairn/protocol';
import pg from 'pg';
import { afterEach, expect, test } from 'vitest';
import { openPostgresEngineReads } from './postgres-engine-reads.ts';
import { isPostgresUnavailable, postgresUnavailable } from './postgres-unavailable.ts';
import { createTestDatabase, type TestDatabase } from './postgres.test-support.ts';

let database: TestDatabase | undefined;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await database?.drop();
  database = undefined;
});

test('a session ended by the server or a refused socket is unavailable; a statement the server rejects, or a CairnError, is not', async () => {
  database = await createTestDatabase();
  const oracle = await database.client();
  const syntax = await oracle.query('SELEKT 1').catch((caught: unknown) => caught);
  expect(syntax).toBeInstanceOf(pg.DatabaseError);
  expect(isPostgresUnavailable(syntax)).toBe(false);
  expect(postgresUnavailable(syntax, 'Reading', 'engine.state')).toBe(syntax);

  const victim = await database.client();
  const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const ended = victim.query('SELECT pg_sleep(30)').catch((caught: unknown) => caught);
  await expect.poll(async () => (await oracle.query(`SELECT state FROM pg_stat_activity WHERE pid = $1`, [pid])).rows[0]?.state).toBe('active');
  await oracle.query('SELECT pg_terminate_backend($1)', [pid]);
  expect(await ended).toMatchObject({ code: '57P01' });
  expect(isPostgresUnavailable(await ended)).toBe(true);
  const mapped = postgresUnavailable(await ended, 'Reading the runs', 'engine.state');
  expect(isCairnError(mapped, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
  expect((mapped as CairnError).message).toMatch(/^Reading the runs: terminating connection due to administrator command\. Check that the database answers/);

  const refused = await new pg.Client({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 2000 }).connect().catch((caught: unknown) => caught);
  expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
  expect(isPostgresUnavailable(refused)).toBe(true);
  expect(isPostgresUnavailable(new CairnError('CAIRN_STATE_UNAVAILABLE', 'already said'))).toBe(false);
});

test("a replica's read when its database has gone is CAIRN_STATE_UNAVAILABLE naming where, not an internal error", async () => {
  database = await createTestDatabase();
  const { reads, close } = openPostgresEngineReads(database.settings);
  closers.push(close);
  await expect(reads.runs()).rejects.toThrow(/relation "runs" does not exist/);
  await database.drop();
  database = undefined;
  const failed = await reads.runs().catch((caught: unknown) => caught);
  expect(isCairnError(failed, 'CAIRN_STATE_UNAVAILABLE')).toBe(true);
  expect(failed).toMatchObject({ path: 'engine.state' });
  expect((failed as Error).message).toMatch(/^The engine's state in PostgreSQL at .*, database "cairn_test_[0-9a-f]+", user ".*" could not be read: /);
});
