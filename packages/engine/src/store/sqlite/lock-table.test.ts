import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { openEngineDatabase } from './open-engine-database.ts';
import { LockTable } from './lock-table.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function database() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-locks-'));
  directories.push(directory);
  return openEngineDatabase(join(directory, 'engine.db'));
}

test('an item takes its locks after the table was seen empty, and its release frees them', () => {
  const handle = database();
  const locks = new LockTable(handle);
  expect(locks.held().size).toBe(0);
  expect(locks.acquireAll('r1', 'a', [{ name: 'db', mode: 'exclusive' }])).toBe(true);
  expect(locks.available({ name: 'db', mode: 'exclusive' })).toBe(false);
  locks.releaseAll('r1', 'a');
  expect(locks.held().size).toBe(0);
  expect(locks.available({ name: 'db', mode: 'exclusive' })).toBe(true);
  handle.close();
});

test('an empty table seen inside a transaction that rolled back is not trusted: the lock it released is back, and a later release frees it', () => {
  const handle = database();
  const locks = new LockTable(handle);
  expect(locks.acquireAll('r1', 'a', [{ name: 'db', mode: 'shared' }])).toBe(true);
  expect(() =>
    handle.transaction(() => {
      locks.releaseAll('r1', 'a');
      expect(locks.held().size).toBe(0);
      throw new Error('the completion failed');
    })(),
  ).toThrow('the completion failed');
  expect(locks.available({ name: 'db', mode: 'exclusive' })).toBe(false);
  locks.releaseAll('r1', 'a');
  expect(locks.available({ name: 'db', mode: 'exclusive' })).toBe(true);
  handle.close();
});
