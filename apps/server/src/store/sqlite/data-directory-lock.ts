import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';

/** A held lock on a data directory: `release()` lets the next server take it. */
export interface DataDirectoryLock {
  release(): void;
}

/**
 * Takes the data directory for this process alone: two servers writing one database, one storage
 * and one anchor would corrupt them. The lock is SQLite's own exclusive lock on `server.lock`
 * (an fcntl lock), so the kernel drops it when the holder dies, even by `kill -9`: a crashed
 * server never blocks the next start. The holder's pid is written beside it, for the refusal to
 * name. Commands that only read the data directory (backup, doctor, verify) do not take it.
 */
export function lockDataDirectory(dataDirectory: string): DataDirectoryLock {
  const pidFile = join(dataDirectory, 'server.pid');
  const database = new Database(join(dataDirectory, 'server.lock'), { timeout: 0 });
  try {
    database.pragma('locking_mode = EXCLUSIVE');
    database.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    database.close();
    if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
    const holder = readFileSync(pidFile, { encoding: 'utf8', flag: 'a+' }).trim() || 'unknown';
    throw new CairnError(
      'CAIRN_LOCK_HELD',
      `The data directory ${dataDirectory} is in use by another cairn serve (pid ${holder}): two servers on one directory would corrupt it. Stop that one first, or give this one another dataDirectory.`,
      {
        path: 'dataDirectory',
        details: { pid: holder },
      },
    );
  }
  writeFileSync(pidFile, `${process.pid}\n`);
  return {
    release() {
      rmSync(pidFile, { force: true });
      database.close();
    },
  };
}
