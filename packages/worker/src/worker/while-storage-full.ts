/**
 * Runs `write` (a storage put of what an attempt produced) until it goes through, trying again
 * while it fails for a full disk (ENOSPC/EDQUOT, also as the `cause` of a storage error): 100 ms
 * doubling to 5 s. What the attempt did is kept rather than turned into a failure of the item —
 * the run goes on once there is room. Any other error is thrown at once.
 */
export async function whileStorageFull<T>(write: () => Promise<T>, onWait?: (error: unknown) => void): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await write();
    } catch (error) {
      if (!isStorageFull(error)) throw error;
      if (tries === 0) onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(tries, 6))));
    }
  }
}

function isStorageFull(error: unknown): boolean {
  for (let current = error, depth = 0; current !== null && typeof current === 'object' && depth < 8; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}
