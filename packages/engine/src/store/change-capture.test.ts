import { describe, expect, it } from 'vitest';
import { openEngineDatabase } from './sqlite/open-engine-database.ts';
import { captureChanges, engineTables } from './change-capture.ts';

const secret = (name: string, version: number) =>
  [`INSERT INTO secrets (name, version, envelope, updated_at, updated_by) VALUES (?, ?, 'e', 't', 'ana')`, name, version] as const;

function setUp() {
  const database = openEngineDatabase(':memory:');
  const capture = captureChanges(database);
  const insertSecret = database.prepare<[string, number]>(secret('', 0)[0]);
  return { database, capture, insertSecret };
}

describe('change capture', () => {
  it('captures every engine table, found from the schema, each with its primary key', () => {
    const { database, capture } = setUp();
    expect(capture.tables.map((table) => table.name)).toEqual(engineTables(database).map((table) => table.name));
    expect(capture.tables.find((table) => table.name === 'items')?.primaryKey).toEqual(['run_id', 'item_id']);
    expect(capture.tables.find((table) => table.name === 'merkle_nodes')?.blobColumns).toEqual(['hash']);
  });

  it('sends a row written several times once, with its last image, and keys as JSON objects', () => {
    const { database, capture, insertSecret } = setUp();
    insertSecret.run('token', 1);
    database.prepare(`UPDATE secrets SET version = 2, envelope = 'second' WHERE name = 'token'`).run();
    database.prepare(`UPDATE secrets SET version = 3, envelope = 'third' WHERE name = 'token'`).run();
    const batch = capture.drain();
    expect(batch.capturedWrites).toBe(3);
    expect(batch.tables).toHaveLength(1);
    expect(batch.tables[0]!.table).toBe('secrets');
    expect(batch.tables[0]!.upserts.map((row) => JSON.parse(row))).toEqual([
      { name: 'token', version: 3, envelope: 'third', updated_at: 't', updated_by: 'ana' },
    ]);
    expect(batch.tables[0]!.upsertKeys).toEqual(['{"name":"token"}']);
    expect(batch.tables[0]!.deletes).toEqual([]);
    // Drained means empty.
    expect(capture.drain()).toEqual({ tables: [], capturedWrites: 0 });
  });

  it('does not send a row inserted and deleted in one batch, and deletes a row the store had', () => {
    const { database, capture, insertSecret } = setUp();
    insertSecret.run('kept', 1);
    capture.drain();
    insertSecret.run('fleeting', 1);
    database.prepare(`UPDATE secrets SET version = 2 WHERE name = 'fleeting'`).run();
    database.prepare(`DELETE FROM secrets WHERE name = 'fleeting'`).run();
    database.prepare(`UPDATE secrets SET version = 2 WHERE name = 'kept'`).run();
    database.prepare(`DELETE FROM secrets WHERE name = 'kept'`).run();
    const batch = capture.drain();
    expect(batch.tables).toEqual([{ table: 'secrets', upserts: [], upsertKeys: [], deletes: ['{"name":"kept"}'] }]);
  });

  it('overwrites a row deleted and inserted again under its key, and sends a re-keyed row as a delete and an insert', () => {
    const { database, capture, insertSecret } = setUp();
    insertSecret.run('a', 1);
    insertSecret.run('b', 1);
    capture.drain();
    database.prepare(`DELETE FROM secrets WHERE name = 'a'`).run();
    insertSecret.run('a', 7);
    database.prepare(`UPDATE secrets SET name = 'c' WHERE name = 'b'`).run();
    const batch = capture.drain();
    const secrets = batch.tables[0]!;
    expect(secrets.upsertKeys).toEqual(['{"name":"a"}', '{"name":"c"}']);
    expect(JSON.parse(secrets.upserts[0]!)).toMatchObject({ name: 'a', version: 7 });
    expect(secrets.deletes).toEqual(['{"name":"b"}']);
  });

  it('captures the row an INSERT OR REPLACE removed, so a replaced row deleted later is deleted in the store', () => {
    const { database, capture, insertSecret } = setUp();
    insertSecret.run('stored', 1);
    capture.drain();
    database.prepare(`INSERT OR REPLACE INTO secrets (name, version, envelope, updated_at, updated_by) VALUES ('stored', 2, 'e', 't', 'ana')`).run();
    database.prepare(`DELETE FROM secrets WHERE name = 'stored'`).run();
    expect(capture.drain().tables).toEqual([{ table: 'secrets', upserts: [], upsertKeys: [], deletes: ['{"name":"stored"}'] }]);
  });

  it('captures nothing of a rolled-back transaction or savepoint', () => {
    const { database, capture, insertSecret } = setUp();
    expect(() =>
      database.transaction(() => {
        insertSecret.run('rolled-back', 1);
        throw new Error('changed my mind');
      })(),
    ).toThrow('changed my mind');
    database.transaction(() => {
      insertSecret.run('outer', 1);
      try {
        database.transaction(() => {
          insertSecret.run('inner', 1);
          throw new Error('inner fails');
        })();
      } catch {
        // The savepoint rolls back, the outer transaction goes on.
      }
    })();
    expect(capture.drain().tables[0]!.upsertKeys).toEqual(['{"name":"outer"}']);
  });

  it('keeps BLOBs as \\x hex (bytea text form), NULLs as null, and integers beyond 2^53 exact', () => {
    const { database, capture } = setUp();
    database.prepare('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)').run(0, 9007199254740993n, Buffer.from([0, 1, 0xab, 0xff]));
    database
      .prepare(`INSERT INTO runs (run_id, name, state, spec_digest, submitted_by, submitted_at, items_total) VALUES ('r', 'n', 'queued', 'd', 'ana', 't', 1)`)
      .run();
    const batch = capture.drain();
    expect(batch.tables.map((table) => table.table)).toEqual(['merkle_nodes', 'runs']);
    expect(batch.tables[0]!.upserts[0]).toBe('{"level":0,"idx":9007199254740993,"hash":"\\\\x0001abff"}');
    expect(JSON.parse(batch.tables[1]!.upserts[0]!)).toMatchObject({ idempotency_key: null, finished_at: null, items_finished: 0 });
  });

  it('refuses to drain inside a transaction, which would send half of it', () => {
    const { database, capture, insertSecret } = setUp();
    database.transaction(() => {
      insertSecret.run('half', 1);
      expect(() => capture.drain()).toThrow(/inside a working-copy transaction/);
    })();
    expect(capture.drain().tables[0]!.upsertKeys).toEqual(['{"name":"half"}']);
  });

  it('captures nothing while switched off, and nothing after uninstall', () => {
    const { database, capture, insertSecret } = setUp();
    capture.withoutCapture(() => insertSecret.run('loaded', 1));
    expect(capture.drain().tables).toEqual([]);
    insertSecret.run('captured', 1);
    capture.uninstall();
    insertSecret.run('after', 1);
    expect(database.prepare(`SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger'`).pluck().get()).toBe(0);
  });

  it('keeps a store equal to the working copy, batch after batch, through 3,000 seeded random writes on tables with rowids, an INTEGER PRIMARY KEY and WITHOUT ROWID', () => {
    const { database, capture } = setUp();
    // A store as the PostgreSQL writer applies a batch: the deletes first, then the upserts.
    const store = new Map<string, Map<string, string>>();
    const apply = () => {
      for (const changes of capture.drain().tables) {
        const rows = store.get(changes.table) ?? new Map<string, string>();
        store.set(changes.table, rows);
        for (const key of changes.deletes) rows.delete(key);
        changes.upserts.forEach((image, index) => rows.set(changes.upsertKeys[index]!, image));
      }
    };
    const tables = [
      { name: 'secrets', key: ['name'] },
      { name: 'checkpoints', key: ['tree_size'] },
      { name: 'merkle_nodes', key: ['level', 'idx'] },
    ];
    // Every row of the working copy as the store holds it: key and image as JSON texts, BLOBs as \x hex.
    const expectStoreEqualsCopy = (step: number) => {
      for (const { name, key } of tables) {
        const copy = new Map<string, unknown>();
        for (const row of database.prepare<[], Record<string, unknown>>(`SELECT * FROM ${name}`).all()) {
          const image = Object.fromEntries(
            Object.entries(row).map(([column, value]) => [column, Buffer.isBuffer(value) ? `\\x${value.toString('hex')}` : value]),
          );
          copy.set(JSON.stringify(Object.fromEntries(key.map((column) => [column, row[column]]))), image);
        }
        const stored = new Map([...(store.get(name) ?? [])].map(([rowKey, image]) => [rowKey, JSON.parse(image) as unknown]));
        expect(stored, `${name} after step ${step}`).toEqual(copy);
      }
    };
    let seed = 20261125;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % below;
    };
    const writes = [
      (name: string) => database.prepare(secret('', 0)[0].replace('INSERT', 'INSERT OR REPLACE')).run(name, random(100)),
      (name: string) => database.prepare(`UPDATE secrets SET version = ?, envelope = ? WHERE name = ?`).run(random(100), `e${random(100)}`, name),
      (name: string, other: string) => database.prepare(`UPDATE OR REPLACE secrets SET name = ? WHERE name = ?`).run(other, name),
      (name: string) => database.prepare(`DELETE FROM secrets WHERE name = ?`).run(name),
      (_: string, __: string, size: number) =>
        database.prepare(`INSERT OR REPLACE INTO checkpoints (tree_size, envelope, issued_at, next_try_at) VALUES (?, 'e', 't', 't')`).run(size),
      (_: string, __: string, size: number, other: number) =>
        database.prepare(`UPDATE OR REPLACE checkpoints SET tree_size = ? WHERE tree_size = ?`).run(other, size),
      (_: string, __: string, size: number) => database.prepare(`UPDATE checkpoints SET tries = tries + 1 WHERE tree_size = ?`).run(size),
      (_: string, __: string, size: number) => database.prepare(`DELETE FROM checkpoints WHERE tree_size = ?`).run(size),
      (_: string, __: string, size: number) =>
        database.prepare(`INSERT OR REPLACE INTO merkle_nodes (level, idx, hash) VALUES (4, ?, ?)`).run(size, Buffer.from([random(256)])),
      (_: string, __: string, size: number) => database.prepare(`DELETE FROM merkle_nodes WHERE level = 4 AND idx = ?`).run(size),
    ];
    for (let step = 0; step < 3000; step++) {
      const names = ['a', 'b', 'c', 'd', 'e', 'f'];
      const run = () => writes[random(writes.length)]!(names[random(6)]!, names[random(6)]!, random(8), random(8));
      // Some writes in transactions, some in savepoints that roll back (captured nothing).
      if (random(4) === 0)
        database.transaction(() => {
          run();
          try {
            database.transaction(() => {
              run();
              if (random(2) === 0) throw new Error('rolled back');
            })();
          } catch {
            // The savepoint rolled back; the transaction goes on.
          }
        })();
      else run();
      if (random(7) === 0) {
        apply();
        expectStoreEqualsCopy(step);
      }
    }
    apply();
    expectStoreEqualsCopy(3000);
  });

  describe('the audit log, append-only', () => {
    const append = (database: ReturnType<typeof setUp>['database'], seq: number) =>
      database
        .prepare(
          `INSERT INTO audit_entries (seq, run_id, run_seq, time, action, entity_kind, outcome, actor_id, body) VALUES (?, NULL, NULL, 't', 'a', 'run', 'success', 'ana', ?)`,
        )
        .run(seq, `{"seq":${seq}}`);

    it('sends the entries appended since the last drain, in order, and none a rolled-back transaction appended', () => {
      const { database, capture } = setUp();
      append(database, 0);
      append(database, 1);
      const first = capture.drain().tables.find((changes) => changes.table === 'audit_entries')!;
      expect(first.upsertKeys).toEqual(['{"seq":0}', '{"seq":1}']);
      expect(JSON.parse(first.upserts[1]!)).toMatchObject({ seq: 1, body: '{"seq":1}', run_id: null });
      expect(() =>
        database.transaction(() => {
          append(database, 2);
          throw new Error('rolled back');
        })(),
      ).toThrow('rolled back');
      // The sequence goes on at the rolled-back entry's seq: it was never there.
      append(database, 2);
      append(database, 3);
      expect(capture.drain().tables).toEqual([{ table: 'audit_entries', upserts: expect.any(Array), upsertKeys: ['{"seq":2}', '{"seq":3}'], deletes: [] }]);
      expect(capture.drain().tables).toEqual([]);
    });

    it('refuses an update or a delete of an entry, which the range would never send', () => {
      const { database } = setUp();
      append(database, 0);
      expect(() => database.prepare(`UPDATE audit_entries SET body = 'edited' WHERE seq = 0`).run()).toThrow(/audit_entries is append-only in a working copy/);
      expect(() => database.prepare(`DELETE FROM audit_entries WHERE seq = 0`).run()).toThrow(/audit_entries is append-only in a working copy/);
      expect(database.prepare('SELECT body FROM audit_entries WHERE seq = 0').pluck().get()).toBe('{"seq":0}');
    });

    it('sends none of the entries there before capture or loaded with capture off, and refuses to switch off with entries not drained', () => {
      const database = openEngineDatabase(':memory:');
      append(database, 0);
      const capture = captureChanges(database);
      capture.withoutCapture(() => append(database, 1));
      expect(capture.drain().tables).toEqual([]);
      append(database, 2);
      expect(() => capture.withoutCapture(() => append(database, 3))).toThrow(/appended rows not drained yet/);
      expect(capture.drain().tables[0]!.upsertKeys).toEqual(['{"seq":2}']);
    });
  });
});
