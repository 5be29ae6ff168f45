import { quotaFull, quotaWindowMs, type QuotaClaim, type QuotaLedger, type QuotaTaken } from './quota-ledger.ts';

/** One key's calls: in flight, started and ended in the rolling minute (oldest first). */
interface KeyCalls {
  inFlight: number;
  /** Tokens the calls in flight reserved. */
  reserved: number;
  readonly starts: number[];
  readonly ends: { readonly at: number; readonly tokens: number }[];
}

/**
 * The quotas counted in this process: what a server on SQLite (one process) shares between its
 * runs. A call that the process never releases (it ended) needs no lease: its count ends with the
 * process.
 */
export class MemoryQuotaLedger implements QuotaLedger {
  readonly pollIntervalMs = 10;
  readonly #keys = new Map<string, KeyCalls>();
  readonly #now: () => number;

  /** `now`: the clock of the rolling minute (tests move it). */
  constructor(options: { readonly now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  take(claims: readonly QuotaClaim[], reserveTokens = 0): Promise<QuotaTaken> {
    const now = this.#now();
    const held = claims.map((claim) => ({ claim, calls: this.#calls(claim.key, now) }));
    for (const { claim, calls } of held) {
      const reason = quotaFull(
        claim.quota,
        {
          inFlight: calls.inFlight,
          startedInMinute: calls.starts.length,
          tokensInMinute: calls.ends.reduce((sum, end) => sum + end.tokens, 0),
          reservedTokens: calls.reserved,
        },
        reserveTokens,
      );
      if (reason !== undefined) return Promise.resolve({ full: { key: claim.key, reason } });
    }
    for (const { calls } of held) {
      calls.inFlight++;
      calls.reserved += reserveTokens;
      calls.starts.push(now);
    }
    let released = false;
    return Promise.resolve({
      release: (tokens: number) => {
        if (released) return Promise.resolve();
        released = true;
        const at = this.#now();
        for (const { calls } of held) {
          calls.inFlight--;
          calls.reserved -= reserveTokens;
          calls.ends.push({ at, tokens });
        }
        return Promise.resolve();
      },
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The key's calls, with those that left the rolling minute dropped. */
  #calls(key: string, now: number): KeyCalls {
    let calls = this.#keys.get(key);
    if (calls === undefined) {
      calls = { inFlight: 0, reserved: 0, starts: [], ends: [] };
      this.#keys.set(key, calls);
    }
    while (calls.starts.length > 0 && calls.starts[0]! <= now - quotaWindowMs) calls.starts.shift();
    while (calls.ends.length > 0 && calls.ends[0]!.at <= now - quotaWindowMs) calls.ends.shift();
    return calls;
  }
}
