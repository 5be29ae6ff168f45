/**
 * Audits the refusals of deliveries nobody has proven to have sent (unsigned, wrongly signed,
 * stale) at most `perMinute` a minute; the rest are counted into the next one audited. Anyone can
 * post such a delivery: without a bound, strangers would set the audit log's write rate.
 */
export class UnverifiedDenials {
  readonly #perMinute: number;
  readonly #audit: (reason: string) => Promise<void>;
  /** This minute's audited refusals, and those refused unaudited since the last one audited. */
  #state = { minute: 0, audited: 0, unaudited: 0 };

  constructor(audit: (reason: string) => Promise<void>, perMinute = 10) {
    this.#audit = audit;
    this.#perMinute = perMinute;
  }

  async deny(reason: string, now = Date.now()): Promise<void> {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.#state.minute) this.#state = { minute, audited: 0, unaudited: this.#state.unaudited };
    if (this.#state.audited >= this.#perMinute) {
      this.#state.unaudited++;
      return;
    }
    const { unaudited } = this.#state;
    this.#state.audited++;
    this.#state.unaudited = 0;
    await this.#audit(
      unaudited === 0 ? reason : `${reason} (and ${unaudited} more unverified deliveries refused before it, unaudited: over ${this.#perMinute} a minute)`,
    );
  }
}
