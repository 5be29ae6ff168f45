import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type pg from 'pg';
import { afterEach } from 'vitest';
import { createTestDatabase } from '../../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { ServerPostgres } from '../../store/postgres/server-postgres.ts';

/** Two stores over one backend (two replicas, or a server reopened), and an oracle reading and writing that backend directly. */
export type TwoStores<Store> =
  | { readonly kind: 'sqlite'; readonly stores: [Store, Store]; readonly oracle: Database.Database }
  | { readonly kind: 'postgres'; readonly stores: [Store, Store]; readonly oracle: pg.Client };

/**
 * The triggers' two backends for a store's behaviour suite: `triggers.db` in a fresh directory
 * (SQLite, one server) and a fresh PostgreSQL database through two pools (the replicas'). Each
 * opens two stores with `open`; everything is closed and removed after each test.
 */
export function triggerStoreBackends<Store extends { close(): void }>(open: {
  readonly sqlite: (file: string) => Store;
  readonly postgres: (pool: ServerPostgres) => Store;
}): Record<'sqlite' | 'postgres', () => Promise<TwoStores<Store>>> {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    sqlite: async () => {
      const directory = mkdtempSync(join(tmpdir(), 'cairn-trigger-store-'));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const file = join(directory, 'triggers.db');
      const stores: [Store, Store] = [open.sqlite(file), open.sqlite(file)];
      const oracle = new Database(file);
      cleanups.push(
        () => stores.forEach((store) => store.close()),
        () => void oracle.close(),
      );
      return { kind: 'sqlite', stores, oracle };
    },
    postgres: async () => {
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const pools = [await ServerPostgres.open(database.settings), await ServerPostgres.open(database.settings)];
      cleanups.push(() => Promise.all(pools.map((pool) => pool.close())).then(() => undefined));
      const oracle = await database.client();
      cleanups.push(() => oracle.end());
      return { kind: 'postgres', stores: [open.postgres(pools[0]!), open.postgres(pools[1]!)], oracle };
    },
  };
}
