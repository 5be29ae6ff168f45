import { CairnError, isCairnError } from '@cairn/protocol';

/** The refusals that mean "the store is not there yet", not "the store is wrong": worth waiting out at start. */
const notYet = ['CAIRN_STATE_UNAVAILABLE', 'CAIRN_STORAGE_UNAVAILABLE'] as const;

export interface StoreWaitOptions {
  /** How long to keep trying (`server.timeouts.storeWait`); 0 tries once. */
  readonly waitMs: number;
  /** Between two tries. */
  readonly retryEveryMs?: number;
  /** Told before each wait: what did not answer, and how long is left. */
  readonly onWait: (error: CairnError, leftMs: number) => void;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Composes the server, trying again while its state database or evidence store does not answer
 * yet (CAIRN_STATE_UNAVAILABLE, CAIRN_STORAGE_UNAVAILABLE), for at most `waitMs`. Started beside
 * them (compose, a pod, a unit), the server may come up first: podman-compose 1.0 ignores
 * `depends_on` conditions, and exiting there would leave it stopped. Every other refusal (a wrong
 * password, a bucket without Object Lock) stops it at once: waiting would not change it. After the
 * wait, the last refusal is thrown, saying how long it waited and which setting bounds the wait.
 * A failed composition closes what it opened (composeServer), so a try leaves nothing behind.
 */
export async function composeWhenStoreAnswers<T>(compose: () => Promise<T>, options: StoreWaitOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const retryEveryMs = options.retryEveryMs ?? 1_000;
  const started = now();
  for (;;) {
    try {
      return await compose();
    } catch (error) {
      if (!notYet.some((code) => isCairnError(error, code))) throw error;
      const refusal = error as CairnError;
      const leftMs = options.waitMs - (now() - started);
      if (leftMs <= 0) {
        if (options.waitMs === 0) throw refusal;
        throw new CairnError(
          refusal.code,
          `${refusal.message} (the server waited ${Math.round((now() - started) / 1_000)} s for it to answer: server.timeouts.storeWait)`,
          {
            ...(refusal.path === undefined ? {} : { path: refusal.path }),
            action: `${refusal.action} If it is only slow to start, give it longer: server.timeouts.storeWait.`,
            details: refusal.details,
            cause: refusal,
          },
        );
      }
      options.onWait(refusal, leftMs);
      await sleep(Math.min(retryEveryMs, leftMs));
    }
  }
}
