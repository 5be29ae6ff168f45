import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CairnError } from '@cairn/protocol';

export interface FileLockOptions {
  /** How long to wait for a lock another process holds before giving up with CAIRN_LOCK_HELD. */
  readonly waitMs?: number;
}

/** Long enough for any change of a small file to finish, short enough that a stuck lock is reported while someone waits. */
const defaultWaitMs = 10_000;

/**
 * Runs `work` holding the lock `lockPath`, which every process that changes the guarded file takes
 * (the server and `cairn token`, or two CLIs): synchronously, as the stores' read-modify-writes
 * are, waiting at most `waitMs` for another holder.
 *
 * The lock is SQLite's exclusive lock on `lockPath`, as `lockDataDirectory` takes it: an fcntl lock,
 * which the kernel drops when its holder ends, even by `kill -9`. So no lock is ever left behind
 * by a dead process, and nothing here judges one abandoned by a pid (which may be reused) or a
 * host. The file is never removed: a process that removed it while another had it open would let
 * the next one lock a new file beside a holder still locking the old.
 */
export function withFileLock<Result>(lockPath: string, work: () => Result, options: FileLockOptions = {}): Result {
  const waitMs = options.waitMs ?? defaultWaitMs;
  // Made here because SQLite would make it 0644, and it sits beside a 0600 token file.
  closeSync(openSync(lockPath, 'a', 0o600));
  // SQLite's busy timeout is the wait: it retries the lock until `waitMs` has passed, then answers
  // SQLITE_BUSY. No `locking_mode = EXCLUSIVE`, unlike the data directory's lock: in that mode a
  // failed try keeps the share of the lock it got, and two waiters can then block each other.
  const database = new Database(lockPath, { timeout: waitMs });
  try {
    try {
      database.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'SQLITE_BUSY') throw waitedTooLong(lockPath, waitMs, error);
      if (code !== 'SQLITE_NOTADB') throw error;
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `${lockPath} is in the way of the lock Cairn takes there: it is not the empty file Cairn makes. If no cairn process is running (cairn serve, cairn token), remove it and try again.`,
        { path: lockPath, cause: error },
      );
    }
    return work();
  } finally {
    // Ends the transaction, in which nothing was written, and with it the lock.
    database.close();
  }
}

function waitedTooLong(lockPath: string, waitMs: number, cause: unknown): CairnError {
  return new CairnError(
    'CAIRN_LOCK_HELD',
    `Waited ${waitMs / 1000}s for the lock ${lockPath}: another cairn process (cairn serve, cairn token) holds it to change the tokens, and has not let go; nothing was changed. Try again when it is done; \`fuser -v ${lockPath}\` lists the processes that have the lock open. Removing the file frees nothing: the lock ends with the process that holds it.`,
    { path: lockPath, details: { waitMs }, cause },
  );
}
