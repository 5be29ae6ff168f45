// The lock is held by real processes here: a child takes it and keeps it, or is killed holding it,
// as the server or `cairn token` would be. How it serves the token file is in file-token-store.test.ts.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCairnError } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { withFileLock } from './file-lock.ts';
import { holdFileLockInAnotherProcess, testDirectory } from './file-lock.test-support.ts';

/** The error `attempt` throws, for assertions on it (fails when it throws none). */
function errorOf(attempt: () => unknown): unknown {
  try {
    attempt();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, got none');
}

test('a lock another live process holds past the wait is an error naming the lock and what to do; the waiter changes nothing', async () => {
  const directory = testDirectory('cairn-file-lock-');
  const lockPath = join(directory, 'tokens.json.lock');
  await holdFileLockInAnotherProcess(lockPath);
  let ran = false;
  const started = performance.now();
  const error = errorOf(() => withFileLock(lockPath, () => (ran = true), { waitMs: 300 }));
  const waited = performance.now() - started;
  expect(waited).toBeGreaterThanOrEqual(300);
  expect(waited).toBeLessThan(2_000);
  expect(isCairnError(error, 'CAIRN_LOCK_HELD')).toBe(true);
  expect(error).toMatchObject({
    path: lockPath,
    message: expect.stringContaining(`Waited 0.3s for the lock ${lockPath}: another cairn process (cairn serve, cairn token) holds it`),
  });
  expect((error as Error).message).toContain(`fuser -v ${lockPath}`);
  expect(ran).toBe(false);
  // The lock file is the holder's own, 0600 as the token file beside it, and the waiter left nothing else.
  expect(statSync(lockPath).mode & 0o777).toBe(0o600);
  expect(readdirSync(directory).filter((name) => !name.endsWith('-journal'))).toEqual(['tokens.json.lock']);
});

test('a holder killed with SIGKILL releases the lock at once: the next take does not wait for the bound', async () => {
  const directory = testDirectory('cairn-file-lock-');
  const lockPath = join(directory, 'tokens.json.lock');
  const holder = await holdFileLockInAnotherProcess(lockPath);
  expect(errorOf(() => withFileLock(lockPath, () => 'taken', { waitMs: 0 }))).toMatchObject({ code: 'CAIRN_LOCK_HELD' });

  await holder.kill();
  // A bound far longer than the take may take on a loaded machine: not waiting it out shows.
  const started = performance.now();
  expect(withFileLock(lockPath, () => 'taken', { waitMs: 60_000 })).toBe('taken');
  expect(performance.now() - started).toBeLessThan(10_000);
  // The lock file stays (others may have it open); SQLite's journal of the killed holder is gone.
  expect(readdirSync(directory)).toEqual(['tokens.json.lock']);
});

test('the lock is released when the work throws, and its error is the one thrown', async () => {
  const lockPath = join(testDirectory('cairn-file-lock-'), 'tokens.json.lock');
  const failure = new Error('the change failed');
  expect(
    errorOf(() =>
      withFileLock(lockPath, () => {
        throw failure;
      }),
    ),
  ).toBe(failure);
  // Free for another process, not only for this one (SQLite tracks its own locks within a process).
  const holder = await holdFileLockInAnotherProcess(lockPath);
  await holder.kill();
  expect(withFileLock(lockPath, () => 'again', { waitMs: 0 })).toBe('again');
});

test('a file in the place of the lock that is not one Cairn made is an error naming it, and is left as it was', () => {
  const lockPath = join(testDirectory('cairn-file-lock-'), 'tokens.json.lock');
  writeFileSync(lockPath, 'not a lock\n');
  let ran = false;
  expect(errorOf(() => withFileLock(lockPath, () => (ran = true)))).toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: lockPath,
    message: `${lockPath} is in the way of the lock Cairn takes there: it is not the empty file Cairn makes. If no cairn process is running (cairn serve, cairn token), remove it and try again.`,
  });
  expect(ran).toBe(false);
  expect(readFileSync(lockPath, 'utf8')).toBe('not a lock\n');
});
