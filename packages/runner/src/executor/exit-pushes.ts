import type { ExecutionStatus, Logger } from '@cairn/core';

type ExitListener = (executionId: string, status: ExecutionStatus) => void;

/**
 * The exits the lease book tells its `onExit` listeners (the engine), told together once the
 * current turn of the event loop is over rather than one report at a time: the exits of every
 * runner whose report arrived in the same turn reach the engine back to back, so that it records
 * them in one transaction (it batches what it is told in one tick), not one a report. Fifty runners
 * of two slots each report two exits at a time: told a report at a time, the engine ran a
 * transaction for every two exits, and the server's CPU an attempt was a third higher
 * (`pnpm bench runners`, fifty-runners).
 *
 * Only the telling waits, never the book: a lease has ended (and `inspect` says so) from the
 * moment its exit is taken, and an exit is in memory only until the engine records it either way.
 */
export class ExitPushes {
  readonly #listeners = new Set<ExitListener>();
  readonly #logger: Logger | undefined;
  #pending: { readonly executionId: string; readonly status: ExecutionStatus }[] = [];
  #soon: NodeJS.Immediate | undefined;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /** Adds a listener; the function returned removes it. */
  listen(listener: ExitListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Tells the listeners of `executionId`'s exit at the end of this turn (with the others pushed in it). */
  push(executionId: string, status: ExecutionStatus): void {
    this.#pending.push({ executionId, status: { ...status } });
    this.#soon ??= setImmediate(() => this.flush());
  }

  /** Tells the listeners now of every exit pushed and not yet told (the book is closing, or the turn is over). */
  flush(): void {
    if (this.#soon !== undefined) clearImmediate(this.#soon);
    this.#soon = undefined;
    const pending = this.#pending;
    this.#pending = [];
    for (const { executionId, status } of pending) {
      for (const listener of this.#listeners) {
        try {
          listener(executionId, { ...status });
        } catch (error) {
          this.#logger?.error({ executionId, error }, 'an exit listener threw');
        }
      }
    }
  }
}
