// Both stores of the trigger deliveries already handled (`triggers.db` of a single server, and the
// table in the engine's PostgreSQL database that replicas share) keep the same promises, checked
// through two stores over one backend (two replicas, or a server reopened): an id is claimed once,
// by one of many claiming it at once; a released one again; ids expire after a week and beyond the
// newest 100,000; handleOnce keeps the claim of a refused delivery and releases a failed one.
import { CairnError } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { seenDeliveryKeptIds, type SeenDeliveries } from './seen-deliveries.ts';
import { PostgresSeenDeliveries } from './store/seen-deliveries-postgres.ts';
import { SqliteSeenDeliveries } from './store/seen-deliveries-sqlite.ts';
import { triggerStoreBackends, type TwoStores } from './trigger-store-backends.test-support.ts';

/** Two stores over one backend, and an oracle that writes ids straight into it (received at `from`, one ms apart) and counts them. */
interface Backend {
  readonly stores: [SeenDeliveries, SeenDeliveries];
  fill(count: number, from: number): Promise<void>;
  count(): Promise<number>;
}

const opened = triggerStoreBackends<SeenDeliveries>({
  sqlite: (file) => new SqliteSeenDeliveries(file),
  postgres: (pool) => new PostgresSeenDeliveries(pool),
});
const backends: Record<string, () => Promise<Backend>> = {
  sqlite: async () => {
    const { stores, oracle } = (await opened.sqlite()) as Extract<TwoStores<SeenDeliveries>, { kind: 'sqlite' }>;
    return {
      stores,
      fill: async (count, from) => {
        const insert = oracle.prepare('INSERT INTO github_deliveries (delivery_id, received_at) VALUES (?, ?)');
        oracle.transaction(() => {
          for (let index = 0; index < count; index += 1) insert.run(`filled-${index}`, from + index);
        })();
      },
      count: async () => (oracle.prepare('SELECT count(*) AS count FROM github_deliveries').get() as { count: number }).count,
    };
  },
  postgres: async () => {
    const { stores, oracle } = (await opened.postgres()) as Extract<TwoStores<SeenDeliveries>, { kind: 'postgres' }>;
    return {
      stores,
      fill: async (count, from) => {
        await oracle.query(
          "INSERT INTO cairn.server_trigger_deliveries (delivery_id, received_at) SELECT 'filled-' || index, $2::bigint + index FROM generate_series(0, $1 - 1) AS index",
          [count, from],
        );
      },
      count: async () => Number((await oracle.query<{ count: string }>('SELECT count(*) FROM cairn.server_trigger_deliveries')).rows[0]!.count),
    };
  },
};

const now = Date.parse('2026-11-27T10:00:00Z');
const github = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

describe.each(Object.keys(backends))('the %s store of seen deliveries', (kind) => {
  test('an id is claimed once, at either store; a released one again; a week-old one expires when another is claimed', async () => {
    const {
      stores: [one, other],
    } = await backends[kind]!();
    expect(await one.claim(github, now)).toBe(true);
    expect(await one.claim(github, now)).toBe(false);
    expect(await other.claim(github, now + 3_600_000)).toBe(false);
    expect(await one.claim('retry-me', now)).toBe(true);
    await other.release('retry-me');
    expect(await one.claim('retry-me', now)).toBe(true);
    // Six days on, still held; eight days on, claiming another id expires the old ones.
    expect(await other.claim(github, now + 6 * 86_400_000)).toBe(false);
    expect(await other.claim('later', now + 8 * 86_400_000)).toBe(true);
    expect(await one.claim(github, now + 8 * 86_400_000)).toBe(true);
    expect(await one.claim('later', now + 8 * 86_400_000)).toBe(false);
  });

  test('of many claims of one id at once, through both stores, exactly one wins', async () => {
    const { stores } = await backends[kind]!();
    const claims = await Promise.all(Array.from({ length: 16 }, (_, index) => stores[index % 2]!.claim('webhooks/alerts:msg_together', now)));
    expect(claims.filter(Boolean)).toHaveLength(1);
  });

  test('at most 100,000 ids are kept: a claim beyond them forgets the oldest', async () => {
    const backend = await backends[kind]!();
    const [one, other] = backend.stores;
    await backend.fill(seenDeliveryKeptIds, now - 3_600_000);
    expect(await one.claim('one-more', now)).toBe(true);
    expect(await backend.count()).toBe(seenDeliveryKeptIds);
    expect(await other.claim(`filled-${seenDeliveryKeptIds - 1}`, now)).toBe(false);
    expect(await other.claim('filled-1', now)).toBe(false);
    expect(await other.claim('filled-0', now)).toBe(true);
  });

  test('handleOnce: a replay gets nothing; a refusal keeps the claim, a failure on this side releases it for the redelivery', async () => {
    const {
      stores: [seen, other],
    } = await backends[kind]!();
    expect(await seen.handleOnce('webhooks/alerts:msg_1', async () => 'ran')).toBe('ran');
    expect(await other.handleOnce('webhooks/alerts:msg_1', async () => 'ran again')).toBeUndefined();
    const refused = new CairnError('CAIRN_PAYLOAD_INVALID', 'The payload lacks /data/title.');
    await expect(seen.handleOnce('webhooks/alerts:msg_2', () => Promise.reject(refused))).rejects.toBe(refused);
    expect(await other.handleOnce('webhooks/alerts:msg_2', async () => 'ran')).toBeUndefined();
    const unavailable = new CairnError('CAIRN_SECRET_UNAVAILABLE', 'The secret cannot be opened.');
    await expect(seen.handleOnce('webhooks/alerts:msg_3', () => Promise.reject(unavailable))).rejects.toBe(unavailable);
    await expect(seen.handleOnce('webhooks/alerts:msg_4', () => Promise.reject(new Error('disk gone')))).rejects.toThrow('disk gone');
    expect(await other.handleOnce('webhooks/alerts:msg_3', async () => 'redelivered')).toBe('redelivered');
    expect(await other.handleOnce('webhooks/alerts:msg_4', async () => 'redelivered')).toBe('redelivered');
  });
});
