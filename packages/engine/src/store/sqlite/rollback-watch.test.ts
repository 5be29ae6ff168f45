import Database from 'better-sqlite3';
import { describe, expect, test } from 'vitest';
import { deferUntilCommit } from './deferred-writes.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';
import { rollbacksOf, watchRollbacks } from './rollback-watch.ts';

function watched(): EngineDatabase {
  const database = watchRollbacks(new Database(':memory:'));
  database.exec('CREATE TABLE notes (text TEXT NOT NULL)');
  return database;
}

const notesOf = (database: EngineDatabase) => database.prepare<[], string>('SELECT text FROM notes ORDER BY rowid').pluck().all();

describe('watchRollbacks', () => {
  test('a transaction commits what its body wrote and returns what it returned; none is counted as rolled back', () => {
    const database = watched();
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    const result = database.transaction((text: string) => {
      insert.run(text);
      return 'done';
    })('first');
    expect(result).toBe('done');
    expect(notesOf(database)).toEqual(['first']);
    expect(database.inTransaction).toBe(false);
    expect(rollbacksOf(database)).toBe(0);
  });

  test('a nested transaction that throws rolls back its own writes only (a savepoint), and is counted', () => {
    const database = watched();
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    database.transaction(() => {
      insert.run('outer');
      expect(() =>
        database.transaction(() => {
          insert.run('inner');
          throw new Error('the inner body fails');
        })(),
      ).toThrow('the inner body fails');
      expect(database.inTransaction).toBe(true);
      insert.run('outer again');
    })();
    expect(notesOf(database)).toEqual(['outer', 'outer again']);
    expect(rollbacksOf(database)).toBe(1);
  });

  test('an outer transaction that throws rolls everything back, its nested ones included', () => {
    const database = watched();
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    expect(() =>
      database.transaction(() => {
        database.transaction(() => insert.run('inner'))();
        throw new Error('the outer body fails');
      })(),
    ).toThrow('the outer body fails');
    expect(notesOf(database)).toEqual([]);
    expect(database.inTransaction).toBe(false);
    expect(rollbacksOf(database)).toBe(1);
  });

  test('a commit that fails rolls back and is counted (a deferred foreign key broken at commit)', () => {
    const database = watched();
    database.exec('PRAGMA foreign_keys = ON');
    database.exec('CREATE TABLE parents (id INTEGER PRIMARY KEY)');
    database.exec('CREATE TABLE children (parent INTEGER REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)');
    const orphan = database.transaction(() => database.prepare('INSERT INTO children (parent) VALUES (7)').run());
    expect(() => orphan()).toThrow(/FOREIGN KEY/);
    expect(database.inTransaction).toBe(false);
    expect(database.prepare('SELECT COUNT(*) AS count FROM children').get()).toEqual({ count: 0 });
    expect(rollbacksOf(database)).toBe(1);
  });

  test('a body that returns a promise is refused and rolled back: it would commit before the promise settles', () => {
    const database = watched();
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    const asynchronous = database.transaction(async () => {
      insert.run('too early');
    });
    expect(() => asynchronous()).toThrow(/cannot return a promise/);
    expect(notesOf(database)).toEqual([]);
    expect(rollbacksOf(database)).toBe(1);
  });

  test('rows deferred to the end of a body are written before its commit, and dropped with its rollback', () => {
    const database = watched();
    const insert = database.prepare<[string]>('INSERT INTO notes (text) VALUES (?)');
    const pending: string[] = [];
    const writer = {
      flush: () => void pending.splice(0).forEach((text) => insert.run(text)),
      discard: () => void pending.splice(0),
    };
    const deferring = (text: string) => {
      expect(deferUntilCommit(database, writer)).toBe(true);
      pending.push(text);
    };
    database.transaction(() => deferring('kept'))();
    expect(() =>
      database.transaction(() => {
        deferring('dropped');
        throw new Error('the body fails');
      })(),
    ).toThrow('the body fails');
    expect(notesOf(database)).toEqual(['kept']);
    // Outside any transaction nothing is deferred: the caller writes at once.
    expect(deferUntilCommit(database, writer)).toBe(false);
  });
});
