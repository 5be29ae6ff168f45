import { z } from 'zod';
import { MemoryQuotaLedger } from './memory-quota-ledger.ts';
import type { QuotaLedger } from './quota-ledger.ts';

/** One quota: what a provider (or one of its models) takes from all runs together. */
export const providerQuotaSchema = z
  .strictObject({
    /** Calls started per rolling minute. */
    requestsPerMinute: z.int('must be a whole number').min(1, 'must be at least 1').max(1_000_000).optional(),
    /** Tokens (all kinds) of the calls that ended in the rolling minute. */
    tokensPerMinute: z.int('must be a whole number').min(1, 'must be at least 1').max(1e12).optional(),
    /** Calls in flight at once. */
    concurrent: z.int('must be a whole number').min(1, 'must be at least 1').max(100_000).optional(),
  })
  .refine((quota) => quota.requestsPerMinute !== undefined || quota.tokensPerMinute !== undefined || quota.concurrent !== undefined, {
    error: 'must set requestsPerMinute, tokensPerMinute or concurrent',
  });

export type ProviderQuota = z.infer<typeof providerQuotaSchema>;

/** Quotas by provider (`anthropic`) or provider and model (`anthropic/claude-sonnet-4-5`). */
export const providerQuotasSchema = z.record(
  z.string().regex(/^(anthropic|openai)(\/.+)?$/, 'must be a provider (anthropic, openai) or provider/model'),
  providerQuotaSchema,
);

/** A call's hold on its quotas; `release` once it ends, with the tokens it used. */
export interface QuotaHold {
  readonly waitedMs: number;
  release(tokens: number): void;
}

/** One call waiting for room: it naps between tries, and is woken early when room may have been freed. */
class Waiter {
  #wake: (() => void) | undefined;
  #woken = false;

  wake(): void {
    if (this.#wake) this.#wake();
    // Woken while it was asking: it asks again at once instead of napping.
    else this.#woken = true;
  }

  /** Waits `milliseconds`, or less when woken (now or since its last nap) or aborted. */
  nap(milliseconds: number, signal: AbortSignal): Promise<void> {
    if (this.#woken || signal.aborted) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, milliseconds));
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }
}

/** The calls of this process waiting for room under one set of quotas, first come first served. */
class Waiters {
  readonly #queue: Waiter[] = [];
  /** Why the last try found no room (what a call refused before its turn is told). */
  lastFull: string;
  /** How many tries found no room. */
  fullFound = 0;

  constructor(keys: string) {
    this.lastFull = `the ${keys} quota is full`;
  }

  get empty(): boolean {
    return this.#queue.length === 0;
  }

  enter(): Waiter {
    const waiter = new Waiter();
    this.#queue.push(waiter);
    return waiter;
  }

  isFirst(waiter: Waiter): boolean {
    return this.#queue[0] === waiter;
  }

  leave(waiter: Waiter): void {
    const index = this.#queue.indexOf(waiter);
    if (index >= 0) this.#queue.splice(index, 1);
    // The next in line tries at once: a call that just got room may have left more.
    if (index === 0) this.#queue[0]?.wake();
  }

  /** Tells the first in line that room may have been freed (a call of this process ended). */
  wakeFirst(): void {
    this.#queue[0]?.wake();
  }
}

/**
 * The providers' quotas, shared by every run of this server and, through a shared ledger, by every
 * replica (ADR 0033): a call over a quota waits for room, up to `maxWaitMs`, rather than failing at
 * once; the wait is recorded with the call. The calls of this process that wait under the same
 * quotas queue, and only the first asks the ledger (every `pollIntervalMs`, or as soon as a call of
 * this process ends): a shared ledger is asked by one caller per replica, not by every waiting one.
 */
export class ProviderQuotas {
  readonly #quotas: Readonly<Record<string, ProviderQuota>>;
  readonly #maxWaitMs: number;
  readonly #ledger: QuotaLedger;
  readonly #waiters = new Map<string, Waiters>();

  constructor(quotas: Readonly<Record<string, ProviderQuota>>, maxWaitMs: number, ledger: QuotaLedger = new MemoryQuotaLedger()) {
    this.#quotas = quotas;
    this.#maxWaitMs = maxWaitMs;
    this.#ledger = ledger;
  }

  /**
   * Holds room under every quota of `provider` and `provider/model`, reserving `reserveTokens` (the
   * call's estimate) under their `tokensPerMinute` until released; a refusal saying which is full
   * after the longest wait.
   */
  async acquire(provider: string, model: string, signal: AbortSignal, reserveTokens = 0): Promise<QuotaHold | { refused: string; waitedMs: number }> {
    const claims = [provider, `${provider}/${model}`].flatMap((key) => {
      const quota = this.#quotas[key];
      return quota === undefined ? [] : [{ key, quota }];
    });
    if (claims.length === 0) return { waitedMs: 0, release: () => undefined };
    const started = Date.now();
    const line = claims.map((claim) => claim.key).join(' ');
    let waiters = this.#waiters.get(line);
    if (waiters === undefined) {
      waiters = new Waiters(line);
      this.#waiters.set(line, waiters);
    }
    const waiter = waiters.enter();
    // A call waited when a quota was full meanwhile, not for the ledger's round trips (its own or
    // those of the calls queued before it).
    const fullBefore = waiters.fullFound;
    try {
      for (;;) {
        if (waiters.isFirst(waiter)) {
          const taken = await this.#ledger.take(claims, reserveTokens);
          if ('release' in taken) return this.#hold(taken.release, waiters.fullFound > fullBefore ? Date.now() - started : 0);
          waiters.fullFound++;
          waiters.lastFull = `the ${taken.full.key} quota is full (${taken.full.reason})`;
        }
        const elapsed = Date.now() - started;
        if (elapsed >= this.#maxWaitMs || signal.aborted) return { refused: `${waiters.lastFull} and stayed so for ${elapsed} ms`, waitedMs: elapsed };
        // The first in line asks again after the ledger's interval; the others when it is their turn.
        const nap = Math.min(waiters.isFirst(waiter) ? this.#ledger.pollIntervalMs : this.#maxWaitMs, this.#maxWaitMs - elapsed);
        await waiter.nap(nap, signal);
      }
    } finally {
      waiters.leave(waiter);
      if (waiters.empty) this.#waiters.delete(line);
    }
  }

  #hold(release: (tokens: number) => Promise<void>, waitedMs: number): QuotaHold {
    let released = false;
    return {
      waitedMs,
      release: (tokens) => {
        if (released) return;
        released = true;
        // A ledger that cannot record the end lets the call's lease lapse instead (bounded).
        void release(tokens)
          .catch(() => undefined)
          .then(() => {
            // Room may be free under any queue that shares a key with this call: each first in line looks.
            for (const waiters of this.#waiters.values()) waiters.wakeFirst();
          });
      },
    };
  }
}
