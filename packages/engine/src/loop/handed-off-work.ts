/**
 * Work the engine's loop started and did not wait for (a pass's starts, a turn's commit,
 * anchoring), kept until it settles. A failure is kept for the loop's next turn to throw, as if the
 * turn had waited for the work itself.
 */
export class HandedOffWork {
  /** Each settles once its work has (it never rejects). */
  readonly #pending = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  readonly #failed: () => void;

  /** `failed` is told of each failure (the loop wakes, to throw it). */
  constructor(failed: () => void) {
    this.#failed = failed;
  }

  add(work: Promise<unknown>): void {
    const settled: Promise<void> = work
      .then(
        () => {},
        (error: unknown) => {
          this.#failure ??= { error };
          this.#failed();
        },
      )
      .finally(() => this.#pending.delete(settled));
    this.#pending.add(settled);
  }

  /** Resolves once all work handed off until now has settled. */
  settled(): Promise<unknown> {
    return Promise.all(this.#pending);
  }

  /** The first failure since the last call, if any: the caller throws it. */
  takeFailure(): { error: unknown } | undefined {
    const failure = this.#failure;
    this.#failure = undefined;
    return failure;
  }
}
