/**
 * Why `error` (or an error it wraps, through `cause`) says the disk under the engine is full, or
 * undefined when it does not. A full disk reaches the engine as SQLite's `SQLITE_FULL` ("database
 * or disk is full"), as an `SQLITE_IOERR_*` from a write(2) that failed for want of space, or as
 * an ENOSPC/EDQUOT from a seam that writes files (a storage provider on the same disk). Such a
 * failure is the machine's, not the work's: the engine pauses and retries instead of failing
 * items or exiting.
 */
export function storageFullReason(error: unknown): string | undefined {
  for (
    let current = error, depth = 0;
    current !== null && typeof current === 'object' && depth < 8;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const code = (current as { code?: unknown }).code;
    const message = (current as { message?: unknown }).message;
    if (typeof code !== 'string') continue;
    if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'ENOSPC' || code === 'EDQUOT') {
      return `${code}: ${typeof message === 'string' ? message : 'no message'}`;
    }
  }
  return undefined;
}
