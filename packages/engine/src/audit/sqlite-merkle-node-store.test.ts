import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MerkleLog, nodeHash } from '@cairn/audit';
import { afterEach, describe, expect, test } from 'vitest';
import type { EngineDatabase } from '../database/engine-database.ts';
import { migrations } from '../database/migrations.ts';
import { openEngineDatabase } from '../database/open-engine-database.ts';
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

const leaf = (value: number) => new TextEncoder().encode(`entry ${value}`);

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

describe('SqliteMerkleNodeStore', () => {
  test('an append reads nothing from the database and writes its nodes in one statement', () => {
    const database = openEngineDatabase(databasePath());
    const counts = countStatements(database);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    log.append(leaf(0));
    counts.clear();
    for (let value = 1; value < 1_000; value++) log.append(leaf(value));
    const reads = [...counts].filter(([source]) => source.startsWith('SELECT'));
    const writes = [...counts].filter(([source]) => source.startsWith('INSERT')).reduce((sum, [, count]) => sum + count, 0);
    expect(reads).toEqual([]);
    expect(writes).toBe(999);
    expect(log.rootHash()).toEqual(referenceOf(Array.from({ length: 1_000 }, (_, value) => value)).rootHash());
    database.close();
  });

  test('a savepoint rolled back inside a transaction that commits: the tree continues gapless, as in memory', () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 5; value++) log.append(leaf(value));
    database.transaction(() => {
      log.append(leaf(5));
      expect(() =>
        database.transaction(() => {
          log.append(leaf(100));
          log.append(leaf(101));
          log.append(leaf(102));
          throw new Error('the nested change failed');
        })(),
      ).toThrow('the nested change failed');
      expect(log.size).toBe(6);
      log.append(leaf(6));
      log.append(leaf(7));
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
    for (let value = 0; value < 3; value++) log.append(leaf(value));
    // A deferred foreign key violation is only found at COMMIT, after the nodes were written.
    database.exec(
      'CREATE TABLE parents (id INTEGER PRIMARY KEY); CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)',
    );
    expect(() =>
      database.transaction(() => {
        log.append(leaf(100));
        database.prepare('INSERT INTO children (parent) VALUES (1)').run();
      })(),
    ).toThrow(/FOREIGN KEY/);
    expect(log.size).toBe(3);
    log.append(leaf(3));
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3]).rootHash());
    database.close();
  });

  test('over a handle whose rollbacks are not counted, every use reads the tree again and stays right', () => {
    const database = new Database(databasePath()) as unknown as EngineDatabase;
    for (const migration of migrations) database.exec(migration.sql);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (let value = 0; value < 3; value++) log.append(leaf(value));
    database.exec('BEGIN');
    log.append(leaf(100));
    log.append(leaf(101));
    database.exec('ROLLBACK');
    expect(log.size).toBe(3);
    log.append(leaf(3));
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3]).rootHash());
    database.close();
  });

  test('a hash a caller changes, given or taken, does not change the tree', () => {
    const database = openEngineDatabase(databasePath());
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    const given = referenceOf([0, 1, 2, 3]);
    const leafHashes = [0, 1, 2, 3].map((index) => given.leafHash(index));
    for (const hash of leafHashes) log.appendLeafHash(hash);
    leafHashes[3]!.fill(0);
    log.rootHash().fill(0);
    log.leafHash(3).fill(0);
    log.append(leaf(4));
    expect(log.rootHash()).toEqual(referenceOf([0, 1, 2, 3, 4]).rootHash());
    database.close();
  });

  test('two stores over one handle stay in step', () => {
    const database = openEngineDatabase(databasePath());
    const first = MerkleLog.open(new SqliteMerkleNodeStore(database));
    const second = MerkleLog.open(new SqliteMerkleNodeStore(database));
    first.append(leaf(0));
    second.append(leaf(1));
    first.append(leaf(2));
    expect(second.size).toBe(3);
    expect(second.rootHash()).toEqual(referenceOf([0, 1, 2]).rootHash());
    database.close();
  });

  test("stores the leaves and the nodes of levels 4 and up only; every proof of every size, read back from a fresh handle, is the in-memory log's", () => {
    const database = openEngineDatabase(databasePath());
    const values = Array.from({ length: 300 }, (_, value) => value);
    const log = MerkleLog.open(new SqliteMerkleNodeStore(database));
    for (const value of values) log.append(leaf(value));
    const levels = database
      .prepare<[], { level: number; count: number }>('SELECT level, COUNT(*) AS count FROM merkle_nodes GROUP BY level ORDER BY level')
      .all();
    expect(levels).toEqual([
      { level: 0, count: 300 },
      { level: 4, count: 18 },
      { level: 5, count: 9 },
      { level: 6, count: 4 },
      { level: 7, count: 2 },
      { level: 8, count: 1 },
    ]);
    // A fresh handle knows no edge: every node of levels 1-3 is hashed from its leaves.
    const reopened = openEngineDatabase(database.name);
    const stored = MerkleLog.open(new SqliteMerkleNodeStore(reopened));
    const reference = referenceOf(values);
    for (const size of [1, 2, 3, 7, 8, 9, 15, 16, 17, 100, 255, 256, 257, 300]) {
      expect(stored.rootHash(size)).toEqual(reference.rootHash(size));
      for (let index = 0; index < size; index += 7) expect(stored.inclusionProof(index, size)).toEqual(reference.inclusionProof(index, size));
      expect(stored.consistencyProof(Math.ceil(size / 3), size)).toEqual(reference.consistencyProof(Math.ceil(size / 3), size));
    }
    expect(stored.multiInclusionProof([3, 40, 41, 299])).toEqual(reference.multiInclusionProof([3, 40, 41, 299]));
    // And the tree goes on from there, its edge read back through the same hashing.
    stored.append(leaf(300));
    expect(stored.rootHash()).toEqual(referenceOf([...values, 300]).rootHash());
    reopened.close();
    database.close();
  });

  test('a node of an unstored level whose subtree is not complete is not there', () => {
    const database = openEngineDatabase(databasePath());
    const store = new SqliteMerkleNodeStore(database);
    const log = MerkleLog.open(store);
    for (let value = 0; value < 13; value++) log.append(leaf(value));
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
});
