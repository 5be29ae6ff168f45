/** What a readiness check of storage found: ready, or not with the reason and since when. */
export type StorageReadiness = { readonly ready: true } | { readonly ready: false; readonly reason: string; readonly since: string };

/** How long one check's answer is reused: a scrape storm costs S3 at most one request per this. */
const defaultCacheMs = 1_500;

/**
 * Whether storage answers, for `/readyz`: the seam's `checkReachable()` when it has one (S3's: one
 * request, never retried, so it says at once that S3 is gone while the operations themselves wait
 * the outage out), cached for `cacheMs` and shared by concurrent callers. A seam without one
 * (local storage, whose disk the disk-room check watches) is always ready. `since` is when the
 * checks started failing, kept until one passes again.
 */
export function storageReadiness(storage: object, options: { readonly cacheMs?: number } = {}): () => Promise<StorageReadiness> {
  const check = (storage as { checkReachable?: unknown }).checkReachable;
  if (typeof check !== 'function') return async () => ({ ready: true });
  const cacheMs = options.cacheMs ?? defaultCacheMs;
  let last: { readonly at: number; readonly answer: StorageReadiness } | undefined;
  let running: Promise<StorageReadiness> | undefined;
  let failingSince: string | undefined;
  const run = async (): Promise<StorageReadiness> => {
    try {
      await (check as () => Promise<void>).call(storage);
      failingSince = undefined;
      return { ready: true };
    } catch (error) {
      failingSince ??= new Date().toISOString();
      return { ready: false, reason: `storage unavailable: ${error instanceof Error ? error.message : String(error)}`, since: failingSince };
    }
  };
  return () => {
    if (last !== undefined && performance.now() - last.at < cacheMs) return Promise.resolve(last.answer);
    running ??= run().then((answer) => {
      last = { at: performance.now(), answer };
      running = undefined;
      return answer;
    });
    return running;
  };
}
