import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { leafHashOfText, MerkleLog, nodeHash, perfectTreeHash } from '@cairn/audit';
import { afterEach, describe, expect, test } from 'vitest';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { migrations } from './migrations.ts';
import { openEngineDatabase } from './open-engine-database.ts';
import { SqliteMerkleNodeStore } from './sqlite-merkle-node-store.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function databasePath(): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-merkle-'));
  directories.push(directory);
  return join(directory, 'engine.db');
}

const body = (value: number) => `entry ${value}`;
const leaf = (value: number) => new TextEncoder().encode(body(value));

/**
 * Appends entry `value` as the audit log does: its leaf, then its row (the store reads the size
 * and the leaves from the entries' rows when it needs them).
 */
function appendEntry(database: EngineDatabase, log: MerkleLog, value: number): void {
  insertEntryRow(database, log.append(leaf(value)), value);
}

function insertEntryRow(database: EngineDatabase, seq: number, value: number): void {
  database
    .prepare("INSERT INTO audit_entries (seq, time, action, entity_kind, outcome, actor_id, body) VALUES (?, 'now', 'test', 'test', 'ok', 'test', ?)")
    .run(seq, body(value));
}

/** The statements `database` runs, by SQL text: its prepare is counted on the very handle. */
function countStatements(database: EngineDatabase): Map<string, number> {
  const counts = new Map<string, number>();
  const prepare = database.prepare.bind(database);
  Object.defineProperty(database, 'prepare', {
    value: (source: string) => {
      const statement = prepare(source);
      for (const method of ['run', 'get', 'all'] as const) {
        const original = statement[method].bind(statement) as (...parameters: unknown[]) => unknown;
        Object.defineProperty(statement, method, {
          value: (...parameters: unknown[]) => {
            counts.set(source, (counts.get(source) ?? 0) + 1);
            return original(...parameters);
          },
        });
      }
      return statement;
    },
  });
  return counts;
}

/** The same appends into an in-memory log: what the stored tree must equal. */
function referenceOf(values: readonly number[]): MerkleLog {
  const reference = MerkleLog.open();
  for (const value of values) reference.append(leaf(value));
  return reference;
}

/** The hash of the perfect subtree of `log` over `width` leaves from leaf `first`. */
function subtreeOf(log: MerkleLog, first: number, width: number): Uint8Array {
  return perfectTreeHash(Array.from({ length: width }, (_, offset) => log.leafHash(first + offset)));
}

describe('SqliteMerkleNodeStore', () => {
  test('an append reads nothing from the database; one that completes nodes of stored levels writes them in one statement, others write none', () => {
    const database = openEngineDatabase(databasePath());
    const counts = countStatements(database);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    appendEntry(database, log, 0);
    counts.clear();
    for (let value = 1; value < 1_000; value++) appendEntry(database, log, value);
    const reads = [...counts].filter(([source]) => source.startsWith('SELECT'));
    const writes = [...counts].filter(([source]) => source.startsWith('INSERT INTO merkle_nodes')).reduce((sum, [, count]) => sum + count, 0);
    expect(reads).toEqual([]);
    // Sizes 16, 32, ..., 992: each completes a node of level 4 (and maybe more above it).
    expect(writes).toBe(62);
    expect(log.rootHash()).toEqual(referenceOf(Array.from({ length: 1_000 }, (_, value) => value)).rootHash());
    database.close();
  });

  test('a savepoint rolled back inside a transaction that commits: the tree continues gapless, as in memory', () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 5; value++) appendEntry(database, log, value);
    database.transaction(() => {
      appendEntry(database, log, 5);
      expect(() =>
        database.transaction(() => {
          appendEntry(database, log, 100);
          appendEntry(database, log, 101);
          appendEntry(database, log, 102);
          throw new Error('the nested change failed');
        })(),
      ).toThrow('the nested change failed');
      expect(log.size).toBe(6);
      appendEntry(database, log, 6);
      appendEntry(database, log, 7);
    })();
    expect(log.size).toBe(8);
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3, 4, 5, 6, 7]).rootHash());
    const reopened = openEngineDatabase(database.name);
    expect(MerkleLog.open(new SqliteMerkleNodeStore(reopened)).rootHash()).toEqual(log.rootHash());
    reopened.close();
    database.close();
  });

  test('a commit that fails rolls the tree back in memory too', () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 3; value++) appendEntry(database, log, value);
    // A deferred foreign key violation is only found at COMMIT, after the nodes were written.
    database.exec(
      'CREATE TABLE parents (id INTEGER PRIMARY KEY); CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)',
    );
    expect(() =>
      database.transaction(() => {
        appendEntry(database, log, 100);
        database.prepare('INSERT INTO children (parent) VALUES (1)').run();
      })(),
    ).toThrow(/FOREIGN KEY/);
    expect(log.size).toBe(3);
    appendEntry(database, log, 3);
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3]).rootHash());
    database.close();
  });

  test('over a handle whose rollbacks are not counted, every use reads the tree again and stays right', () => {
    const database = new Database(databasePath()) as unknown as EngineDatabase;
    for (const migration of migrations) database.exec(migration.sql);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 3; value++) appendEntry(database, log, value);
    database.exec('BEGIN');
    appendEntry(database, log, 100);
    appendEntry(database, log, 101);
    database.exec('ROLLBACK');
    expect(log.size).toBe(3);
    appendEntry(database, log, 3);
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3]).rootHash());
    database.close();
  });

  test('a hash a caller changes, given or taken, does not change the tree', () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    const given = referenceOf([0, 1, 2, 3]);
    const leafHashes = [0, 1, 2, 3].map((index) => given.leafHash(index));
    for (const [index, hash] of leafHashes.entries()) insertEntryRow(database, log.appendLeafHash(hash), index);
    leafHashes[3]!.fill(0);
    log.rootHash().fill(0);
    log.leafHash(3).fill(0);
    appendEntry(database, log, 4);
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3, 4]).rootHash());
    database.close();
  });

  test('two stores over one handle stay in step', () => {
    const database = openEngineDatabase(databasePath());
    const first = MerkleLog.open(new SqliteMerkleNodeStore(database));
    const second = MerkleLog.open(new SqliteMerkleNodeStore(database));
    appendEntry(database, first, 0);
    appendEntry(database, second, 1);
    appendEntry(database, first, 2);
    expect(second.size).toBe(3);
    expect(second.rootHash()).toEqual(referenceOf([0, 1, 2]).rootHash());
    database.close();
  });

  test("stores the nodes of levels 4, 8, 12, ... only (the leaves are the entries); every proof of every size, read back from a fresh handle, is the in-memory log's", () => {
    const database = openEngineDatabase(databasePath());
    const values = Array.from({ length: 4_200 }, (_, value) => value);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    database.transaction(() => {
      for (const value of values) appendEntry(database, log, value);
    })();
    const levels = database
      .prepare<[], { level: number; count: number }>('SELECT level, COUNT(*) AS count FROM merkle_nodes GROUP BY level ORDER BY level')
      .all();
    expect(levels).toEqual([
      { level: 4, count: 262 },
      { level: 8, count: 16 },
      { level: 12, count: 1 },
    ]);
    // A fresh handle knows no edge: every leaf and node of levels 1-3 is hashed from entry bodies,
    // every node of levels 5-7 and 9-11 from the nodes of levels 4 and 8.
    const reopened = openEngineDatabase(database.name);
    const stored = MerkleLog.open(new SqliteMerkleNodeStore(reopened));
    const reference = referenceOf(values);
    for (const size of [1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 300, 511, 512, 513, 2_047, 2_048, 2_049, 4_095, 4_096, 4_097, 4_200]) {
      expect(stored.rootHash(size)).toEqual(reference.rootHash(size));
      for (let index = 0; index < size; index += Math.ceil(size / 40))
        expect(stored.inclusionProof(index, size)).toEqual(reference.inclusionProof(index, size));
      expect(stored.consistencyProof(Math.ceil(size / 3), size)).toEqual(reference.consistencyProof(Math.ceil(size / 3), size));
    }
    expect(stored.multiInclusionProof([3, 40, 41, 299, 3_000, 4_199])).toEqual(reference.multiInclusionProof([3, 40, 41, 299, 3_000, 4_199]));
    // And the tree goes on from there, its edge read back through the same hashing.
    appendEntry(reopened, stored, 4_200);
    expect(stored.rootHash()).toEqual(referenceOf([...values, 4_200]).rootHash());
    reopened.close();
    database.close();
  });

  test('a node of a level between two stored ones whose stored nodes are not all there is not there', () => {
    const database = openEngineDatabase(databasePath());
    const store = new SqliteMerkleNodeStore(database);
    const log = MerkleLog.open(store);
    database.transaction(() => {
      for (let value = 0; value < 100; value++) appendEntry(database, log, value);
    })();
    const fresh = new SqliteMerkleNodeStore(openEngineDatabase(database.name));
    const reference = referenceOf(Array.from({ length: 100 }, (_, value) => value));
    // Six nodes of level 4 (96 entries): levels 5 and 6 complete over them, level 7 not yet.
    expect(fresh.get(5, 2)).toEqual(subtreeOf(reference, 64, 32));
    expect(fresh.get(6, 0)).toEqual(subtreeOf(reference, 0, 64));
    expect(fresh.get(5, 3)).toBeUndefined();
    expect(fresh.get(6, 1)).toBeUndefined();
    expect(fresh.get(7, 0)).toBeUndefined();
    database.close();
  });

  test('a node of an unstored level whose subtree is not complete is not there', () => {
    const database = openEngineDatabase(databasePath());
    const store = new SqliteMerkleNodeStore(database);
    const log = MerkleLog.open(store);
    for (let value = 0; value < 13; value++) appendEntry(database, log, value);
    const fresh = new SqliteMerkleNodeStore(openEngineDatabase(database.name));
    const reference = referenceOf(Array.from({ length: 13 }, (_, value) => value));
    expect(fresh.get(1, 5)).toEqual(nodeHash(reference.leafHash(10), reference.leafHash(11)));
    expect(fresh.get(1, 6)).toBeUndefined();
    expect(fresh.get(2, 3)).toBeUndefined();
    expect(fresh.get(3, 1)).toBeUndefined();
    expect(fresh.get(2, 2)).toEqual(store.get(2, 2));
    expect(fresh.get(3, 0)).toEqual(store.get(3, 0));
    database.close();
  });

  test("a leaf is the hash of its entry's body as stored: an entry missing is a leaf missing, an entry edited a leaf changed", () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 6; value++) appendEntry(database, log, value);
    const fresh = () => new SqliteMerkleNodeStore(openEngineDatabase(database.name));
    expect(fresh().get(0, 5)).toEqual(leafHashOfText(body(5)));
    expect(fresh().get(0, 6)).toBeUndefined();
    database.prepare('UPDATE audit_entries SET body = ? WHERE seq = 2').run('edited');
    expect(fresh().get(0, 2)).toEqual(leafHashOfText('edited'));
    expect(fresh().get(1, 1)).toEqual(nodeHash(leafHashOfText('edited'), leafHashOfText(body(3))));
    database.close();
  });

  test('migrations 14 and 15 drop the stored leaves and the nodes of levels other than 4, 8, 12, ... an older database kept; the tree reads the same', () => {
    const path = databasePath();
    const older = openEngineDatabase(
      path,
      migrations.filter((migration) => migration.version < 14),
    );
    const values = Array.from({ length: 600 }, (_, value) => value);
    const reference = referenceOf(values);
    // As engines before them wrote them: every leaf, and the nodes of levels 4 and up (some databases also kept levels 1-3).
    const insert = older.prepare('INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)');
    for (const value of values) {
      insertEntryRow(older, value, value);
      insert.run(0, value, reference.leafHash(value));
    }
    insert.run(1, 0, nodeHash(reference.leafHash(0), reference.leafHash(1)));
    for (let level = 4; 2 ** level <= values.length; level++)
      for (let index = 0; (index + 1) * 2 ** level <= values.length; index++) insert.run(level, index, subtreeOf(reference, index * 2 ** level, 2 ** level));
    older.close();
    const database = openEngineDatabase(path);
    expect(database.prepare('SELECT level, COUNT(*) AS count FROM merkle_nodes GROUP BY level ORDER BY level').all()).toEqual([
      { level: 4, count: 37 },
      { level: 8, count: 2 },
    ]);
    const stored = MerkleLog.open(new SqliteMerkleNodeStore(database));
    expect(stored.size).toBe(600);
    expect(stored.rootHash()).toEqual(reference.rootHash());
    expect(stored.inclusionProof(33, 600)).toEqual(reference.inclusionProof(33, 600));
    expect(stored.consistencyProof(512, 600)).toEqual(reference.consistencyProof(512, 600));
    database.close();
  });
});
