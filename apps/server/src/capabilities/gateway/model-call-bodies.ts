import type { Digest, Logger, StorageProviderV1 } from '@cairn/core';
import { blobKey, CairnError } from '@cairn/protocol';

/** How many attempts' stored bytes are kept before those of ended attempts are dropped. */
const storedBytesAttemptsKept = 1_000;

/**
 * Where the model gateway stores the bodies of calls, by digest, counting what each attempt has
 * stored (`gateway.maxStoredBytesPerAttempt`). Where storage can defer its flushes (the local
 * directory: `capabilities.deferFlush`), a body the answer waits for is put without one and made
 * durable after the answer (`durable`), before any commit carries the entry naming it (ADR 0059):
 * the agent never waits on a disk flush. Elsewhere (S3) a put is durable when it resolves.
 */
export class ModelCallBodies {
  readonly #storage: StorageProviderV1;
  readonly #live: (executionId: string) => boolean;
  readonly #logger: Logger | undefined;
  /** The bytes of bodies each attempt has had stored, by execution id. */
  readonly #storedBytes = new Map<string, number>();
  /** Whether puts may be deferred (then made durable by `durable`). */
  readonly deferred: boolean;

  constructor(storage: StorageProviderV1, live: (executionId: string) => boolean, logger?: Logger) {
    this.#storage = storage;
    this.#live = live;
    this.#logger = logger;
    this.deferred = storage.capabilities.deferFlush === true;
  }

  /** The bytes of bodies the attempt has had stored so far. */
  storedBy(executionId: string): number {
    return this.#storedBytes.get(executionId) ?? 0;
  }

  /**
   * Stores a body of the attempt's, counting it against the attempt's bound; `deferFlush` (where
   * storage defers): readable at once, to be made durable by `durable` before an entry names it.
   */
  async store(executionId: string, digest: Digest, bytes: Buffer, deferFlush = false): Promise<void> {
    if (!this.#storedBytes.has(executionId) && this.#storedBytes.size >= storedBytesAttemptsKept) {
      // Attempts that ended can store no more: their counts are dropped.
      for (const attempt of this.#storedBytes.keys()) if (!this.#live(attempt)) this.#storedBytes.delete(attempt);
    }
    this.#storedBytes.set(executionId, this.storedBy(executionId) + bytes.length);
    // Content-addressed: a body already stored (the same request sent again) is the same bytes.
    const defer = deferFlush && this.deferred ? { deferFlush: true } : {};
    await this.#storage.put(blobKey(digest), bytes, { contentType: 'application/json', ifAbsent: true, ...defer });
  }

  /**
   * Makes bodies stored with `deferFlush` durable: a durable if-absent put of each finds it and
   * flushes it, writing nothing again. Undefined where storage defers nothing (they are durable
   * already). Rejects with CAIRN_STATE_UNAVAILABLE: the engine's commit, held on it, then breaks,
   * since the entry naming them must never be durable without them.
   */
  durable(executionId: string, bodies: readonly (readonly [Digest, Buffer])[]): Promise<void> | undefined {
    if (!this.deferred) return undefined;
    const flushed = Promise.all(
      bodies.map(([digest, bytes]) => this.#storage.put(blobKey(digest), bytes, { contentType: 'application/json', ifAbsent: true })),
    ).then(
      () => undefined,
      (error: unknown) => {
        throw new CairnError(
          'CAIRN_STATE_UNAVAILABLE',
          `The bodies of a model call of attempt ${executionId} could not be made durable in storage (${(error as Error).message}), so the model.called entry naming them may not be committed: nothing decided since may leave the engine. Check the storage's disk, then restart the server.`,
          { path: 'storage', cause: error },
        );
      },
    );
    // Reported by the commit it holds; logged here too, for a call whose entry was not recorded.
    flushed.catch((error: unknown) => this.#logger?.error({ executionId, error: String(error) }, 'a model call could not be made durable'));
    return flushed;
  }
}
