/**
 * The model calls whose `model.called` entries wait for their bodies to be made durable (ADR 0059),
 * by attempt: an entry is written only once the bodies it names are, so that neither the WAL's
 * write-back nor a commit can make it durable without them. An attempt's end waits for its own
 * (`settled`), so its entries still come before its end and an attempt that ended records nothing
 * later; the engine's close waits for all of them.
 */
export class PendingModelCalls {
  readonly #byAttempt = new Map<string, Set<Promise<unknown>>>();

  /** Notes a call of the attempt whose entry is written (or dropped) when `appended` settles. */
  add(executionId: string, appended: Promise<unknown>): void {
    let pending = this.#byAttempt.get(executionId);
    if (pending === undefined) this.#byAttempt.set(executionId, (pending = new Set()));
    const settled = appended.then(
      () => undefined,
      () => undefined,
    );
    pending.add(settled);
    void settled.then(() => {
      pending.delete(settled);
      if (pending.size === 0 && this.#byAttempt.get(executionId) === pending) this.#byAttempt.delete(executionId);
    });
  }

  /**
   * Resolves (never rejects) once every call pending now for these attempts has been written or
   * dropped: what an attempt's end waits for. At once when none is pending (the common case: no
   * promise is made).
   */
  settled(executionIds: Iterable<string>): Promise<void> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (const executionId of executionIds) {
      const pending = this.#byAttempt.get(executionId);
      if (pending !== undefined) (waits ??= []).push(...pending);
    }
    return waits === undefined ? undefined : Promise.all(waits).then(() => undefined);
  }

  /** Resolves once every call pending now, of any attempt, has been written or dropped. */
  async all(): Promise<void> {
    await this.settled([...this.#byAttempt.keys()]);
  }
}
