/** What one call holds of a budget while it is in flight: its estimate, in tokens and dollars. */
export interface Reservation {
  readonly tokens: number;
  readonly usd: number;
}

/** What the calls in flight hold of one budget together. */
export interface Reserved extends Reservation {
  readonly calls: number;
}

const nothingReserved: Reserved = { tokens: 0, usd: 0, calls: 0 };

/**
 * What the calls in flight in this process have reserved of each budget (an item's, a run's), by
 * key: a call reserves its estimate before it is sent and releases it once its spend is counted,
 * so concurrent calls cannot all pass a budget check made against the spend alone. Budgets are
 * enforced by the one process that serves model calls (the replica running the engine), so the
 * reservations live in its memory.
 */
export class BudgetReservations {
  readonly #held = new Map<string, Reserved>();
  readonly #waiting = new Set<() => void>();

  held(key: string): Reserved {
    return this.#held.get(key) ?? nothingReserved;
  }

  /** Reserves `reservation` of every budget in `keys`; the release (once; later calls do nothing) wakes the calls waiting for room. */
  reserve(keys: readonly string[], reservation: Reservation): () => void {
    for (const key of keys) {
      const held = this.held(key);
      this.#held.set(key, { tokens: held.tokens + reservation.tokens, usd: held.usd + reservation.usd, calls: held.calls + 1 });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of keys) {
        const held = this.held(key);
        if (held.calls <= 1) this.#held.delete(key);
        else this.#held.set(key, { tokens: held.tokens - reservation.tokens, usd: held.usd - reservation.usd, calls: held.calls - 1 });
      }
      for (const wake of [...this.#waiting]) wake();
    };
  }

  /** Resolves when a reservation is released, `milliseconds` pass, or `signal` aborts, whichever is first. */
  released(milliseconds: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, milliseconds);
      signal.addEventListener('abort', done, { once: true });
      this.#waiting.add(done);
    });
  }
}
