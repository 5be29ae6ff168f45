import { statfs } from 'node:fs/promises';
import { isCairnError } from '@cairn/protocol';

/** Free space under which a failed write to the disk is taken as the disk being full. */
const nearlyFullBytes = 1024 * 1024;
/** Failures that say what was wrong with the task itself: never waited out. */
const taskProblems = new Set(['CAIRN_PAYLOAD_INVALID', 'CAIRN_DIGEST_MISMATCH', 'CAIRN_NOT_FOUND', 'CAIRN_SIGNATURE_INVALID', 'CAIRN_ATTEMPT_DISK_EXCEEDED']);

/**
 * Runs `write` (a storage put of what an attempt produced, or a step that writes the attempt's
 * work directory) until it goes through, trying again while it fails for a full disk, 100 ms
 * doubling to 5 s. A full disk is ENOSPC or EDQUOT (also as the `cause` of a storage error),
 * CAIRN_ATTEMPT_HOST_DISK_FULL (the attempt's mounts found the disk under them full before the
 * runtime ran), or a message saying so; and, since a subprocess such as git does not always say why a write failed,
 * any failure (other than a problem of the task itself) while `directory`'s file system has less
 * than 1 MiB free. The attempt waits for room rather than failing its item for the machine's sake.
 * Any other error is thrown at once; so is the last one once `signal` aborts (a cancel, the
 * engine's deadline).
 */
export async function whileStorageFull<T>(
  write: () => Promise<T>,
  options: { readonly onWait?: (error: unknown) => void; readonly signal?: AbortSignal | undefined; readonly directory?: string } = {},
): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await write();
    } catch (error) {
      if (options.signal?.aborted || !(isStorageFull(error) || (options.directory !== undefined && (await nearlyFull(options.directory, error))))) throw error;
      if (tries === 0) options.onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(tries, 6))));
    }
  }
}

// git says "Out of diskspace" for a loose object or index it could not write.
const noSpaceMessage = /no space left on device|disk quota exceeded|out of diskspace|ENOSPC|EDQUOT/i;
const fullCodes = new Set(['ENOSPC', 'EDQUOT', 'CAIRN_ATTEMPT_HOST_DISK_FULL']);

function isStorageFull(error: unknown): boolean {
  for (
    let current = error, depth = 0;
    current !== null && typeof current === 'object' && depth < 8;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if ((typeof code === 'string' && fullCodes.has(code)) || (typeof message === 'string' && noSpaceMessage.test(message))) return true;
  }
  return false;
}

async function nearlyFull(directory: string, error: unknown): Promise<boolean> {
  if (isCairnError(error) && taskProblems.has(error.code)) return false;
  try {
    const stats = await statfs(directory);
    return stats.bavail * stats.bsize < nearlyFullBytes;
  } catch {
    return false;
  }
}
