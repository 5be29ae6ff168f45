// The quotas of a server on PostgreSQL, counted in the state database so that replicas share them:
// the ledgers' shared behaviour between two replicas' pools, and what only a shared count needs —
// a call's room lasts while its holder renews it and lapses (bounded) when the holder is gone, a
// holder that stops gives its room back, and rows no count needs are deleted. Read through an
// oracle connection, not only through the ledger.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { ServerPostgres } from '../../store/postgres/server-postgres.ts';
import { PostgresQuotaLedger } from './store/postgres-quota-ledger.ts';
import type { QuotaClaim, QuotaLedger } from './quota-ledger.ts';
import { describeQuotaLedger } from './quota-ledger.test-support.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let shared: Promise<TestDatabase> | undefined;
/** One database for the file (each test uses a schema of its own): creating one per test would cost most of the file's time. */
function database(): Promise<TestDatabase> {
  shared ??= createTestDatabase();
  return shared;
}
afterAll(async () => {
  await (await shared)?.drop();
});

let schemas = 0;
/** A replica's ledger: its own pool on the test's schema. */
async function replica(testDatabase: TestDatabase, schema: string, leaseMs = 15_000): Promise<{ ledger: PostgresQuotaLedger; pool: ServerPostgres }> {
  const pool = await ServerPostgres.open({ ...testDatabase.settings, schema });
  const ledger = new PostgresQuotaLedger(pool, { leaseMs });
  cleanups.push(() => pool.close().catch(() => undefined));
  cleanups.push(() => ledger.close());
  return { ledger, pool };
}

async function twoReplicas(leaseMs?: number) {
  const testDatabase = await database();
  const schema = `quota_${++schemas}`;
  const [first, second] = await Promise.all([replica(testDatabase, schema, leaseMs), replica(testDatabase, schema, leaseMs)]);
  const oracle = await testDatabase.client();
  return { first, second, oracle, table: `${schema}.server_quota_calls` };
}

describeQuotaLedger('on PostgreSQL, two replicas', async () => {
  const { first, second, oracle, table } = await twoReplicas();
  return {
    first: first.ledger,
    second: second.ledger,
    passMinute: async () => {
      await oracle.query(`UPDATE ${table} SET started_at = started_at - interval '61 seconds', ended_at = ended_at - interval '61 seconds'`);
    },
  };
});

const twoAtOnce: QuotaClaim[] = [{ key: 'openai', quota: { concurrent: 2 } }];

async function taken(ledger: QuotaLedger): Promise<(tokens: number) => Promise<void>> {
  const outcome = await ledger.take(twoAtOnce);
  if (!('release' in outcome)) throw new Error(`expected room, got ${JSON.stringify(outcome)}`);
  return outcome.release;
}

test('a call holds its room while its holder renews the lease; once the holder is gone, the room is free within the lease', async () => {
  // Leases on the database's clock, renewed on the process's timers: the test looks at that clock
  // (through the oracle) and at the order of events, not at how long the machine took.
  const { first, second, oracle, table } = await twoReplicas(1_800);
  await taken(first.ledger);
  await taken(first.ledger);
  const leases = async () =>
    (
      await oracle.query<{ now: Date; earliest: Date; latest: Date }>(
        `SELECT statement_timestamp() AS now, min(lease_until) AS earliest, max(lease_until) AS latest FROM ${table}`,
      )
    ).rows[0]!;
  const firstLease = (await leases()).latest;
  // Once their first lease is over, the first replica's calls are still in flight: it renewed them.
  let after = await leases();
  for (let wait = 0; after.now <= firstLease; wait++) {
    if (wait >= 1_000) throw new Error('the database clock never passed the first lease');
    await sleep(25);
    after = await leases();
  }
  expect(after.earliest.getTime()).toBeGreaterThan(firstLease.getTime());
  expect(await second.ledger.take(twoAtOnce)).toEqual({ full: { key: 'openai', reason: '2 calls in flight' } });

  // The first replica loses the database (as a replica that dies does): nobody renews its calls.
  await first.pool.close();
  const until = (await leases()).latest.getTime();
  // Every try that found the room still held began before the lease ended; the first after it found room.
  const heldAt: number[] = [];
  for (let tries = 0; ; tries++) {
    if (tries >= 1_000) throw new Error('the room was never freed');
    const triedAt = Date.now();
    if ('release' in (await second.ledger.take(twoAtOnce))) break;
    heldAt.push(triedAt);
    await sleep(25);
  }
  // Not before the lease lapsed, and at the first try after it.
  expect(Date.now()).toBeGreaterThanOrEqual(until - 5);
  expect(heldAt.filter((triedAt) => triedAt > until)).toEqual([]);
  // The lapsed calls still count as started in the minute (they did start).
  const started = await oracle.query<{ holders: string }>(`SELECT count(DISTINCT holder) AS holders FROM ${table}`);
  expect(Number(started.rows[0]!.holders)).toBe(2);
});

test('a ledger that stops gives back the room of the calls it still holds; one release, however often called, ends one call', async () => {
  const { first, second, oracle, table } = await twoReplicas();
  const release = await taken(first.ledger);
  await taken(first.ledger);
  await release(7);
  await release(7);
  expect((await oracle.query(`SELECT tokens FROM ${table} WHERE ended_at IS NOT NULL`)).rows).toEqual([{ tokens: '7' }]);
  await taken(second.ledger);
  expect(await second.ledger.take(twoAtOnce)).toMatchObject({ full: { key: 'openai' } });
  await first.ledger.close();
  expect((await oracle.query(`SELECT count(*) AS open FROM ${table} WHERE ended_at IS NULL`)).rows).toEqual([{ open: '1' }]);
  await taken(second.ledger);
});

test('rows that no count needs any more are deleted by a replica that takes calls; the rest stay', async () => {
  const { first, oracle, table } = await twoReplicas();
  const ended = await taken(first.ledger);
  await ended(10);
  await taken(first.ledger);
  // Two minutes ago: the ended call is out of every count; the one in flight still counts.
  await oracle.query(`UPDATE ${table} SET started_at = started_at - interval '2 minutes', ended_at = ended_at - interval '2 minutes'`);
  await first.ledger.renew();
  const { rows } = await oracle.query<{ ended_at: Date | null }>(`SELECT ended_at FROM ${table}`);
  expect(rows).toEqual([{ ended_at: null }]);
});
