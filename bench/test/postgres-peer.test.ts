import { existsSync } from 'node:fs';
import pg from 'pg';
import { expect, test } from 'vitest';
import { runPostgresEngineItems } from '../postgres-engine-fanout.ts';
import { startPostgresServer } from '../postgres-server.ts';
import { acceptsConnections } from '../free-loopback-port.ts';

test('the PostgreSQL of its own keeps production durability (fsync, synchronous_commit, full_page_writes on), and is gone after stop', async () => {
  const server = await startPostgresServer();
  let directory = '';
  try {
    const database = await server.createDatabase();
    const { settings } = database;
    const client = new pg.Client(settings as pg.ClientConfig);
    await client.connect();
    try {
      for (const setting of ['fsync', 'synchronous_commit', 'full_page_writes']) {
        expect((await client.query(`SHOW ${setting}`)).rows[0][setting], setting).toBe('on');
      }
      directory = (await client.query('SHOW unix_socket_directories')).rows[0].unix_socket_directories;
    } finally {
      await client.end();
    }
    await database.drop();
  } finally {
    await server.stop();
  }
  expect(await acceptsConnections(server.port)).toBe(false);
  expect(existsSync(directory)).toBe(false);
});

test("a fan-out on the PostgreSQL backend runs to its end as read from the database, its leader's commits counted", async () => {
  const server = await startPostgresServer();
  try {
    const items = Array.from({ length: 300 }, (_, index) => ({ id: `item-${index}` }));
    // runPostgresEngineItems throws unless the database reads the run succeeded.
    const { wall, counts } = await runPostgresEngineItems(server, items, 20);
    expect(wall).toBeGreaterThan(0);
    // Several group commits (the submit's, then each loop turn's), far fewer than one per item.
    expect(counts.commits).toBeGreaterThan(2);
    expect(counts.commits).toBeLessThan(items.length * 3);
    // Each item leaves at least its row, its attempt and its audit entries behind.
    expect(counts.rows).toBeGreaterThan(items.length * 3);
    expect(counts.committingMs).toBeGreaterThan(0);
    expect(counts.committingMs).toBeLessThanOrEqual(wall);
  } finally {
    await server.stop();
  }
});
