/**
 * Runs `write` (a storage put of what an attempt produced, or a step that writes the attempt's
 * work directory) until it goes through, trying again while it fails for a full disk — ENOSPC or
 * EDQUOT, also as the `cause` of a storage error, or git's "No space left on device" in the message
 * of a git step — 100 ms doubling to 5 s. The attempt waits for room rather than failing its item
 * for the machine's sake. Any other error is thrown at once; so is the last one once `signal`
 * aborts (a cancel, the engine's deadline).
 */
export async function whileStorageFull<T>(write: () => Promise<T>, onWait?: (error: unknown) => void, signal?: AbortSignal): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await write();
    } catch (error) {
      if (!isStorageFull(error) || signal?.aborted) throw error;
      if (tries === 0) onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(tries, 6))));
    }
  }
}

const noSpaceMessage = /No space left on device|Disk quota exceeded/;

function isStorageFull(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 8; current = (current as { cause?: unknown }).cause, depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (code === 'ENOSPC' || code === 'EDQUOT' || (typeof message === 'string' && noSpaceMessage.test(message))) return true;
  }
  return false;
}
