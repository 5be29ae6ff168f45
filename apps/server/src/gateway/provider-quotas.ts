import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

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

const minuteMs = 60_000;
const pollMs = 10;

class QuotaWindow {
  readonly quota: ProviderQuota;
  inFlight = 0;
  readonly starts: number[] = [];
  readonly ends: { at: number; tokens: number }[] = [];

  constructor(quota: ProviderQuota) {
    this.quota = quota;
  }

  /** Why a call cannot start now, or undefined when it can. */
  blocked(now: number): string | undefined {
    while (this.starts.length > 0 && this.starts[0]! <= now - minuteMs) this.starts.shift();
    while (this.ends.length > 0 && this.ends[0]!.at <= now - minuteMs) this.ends.shift();
    const { concurrent, requestsPerMinute, tokensPerMinute } = this.quota;
    if (concurrent !== undefined && this.inFlight >= concurrent) return `${concurrent} calls in flight`;
    if (requestsPerMinute !== undefined && this.starts.length >= requestsPerMinute) return `${requestsPerMinute} calls in the last minute`;
    if (tokensPerMinute !== undefined && this.ends.reduce((sum, end) => sum + end.tokens, 0) >= tokensPerMinute)
      return `${tokensPerMinute} tokens in the last minute`;
    return undefined;
  }
}

/**
 * The providers' quotas, shared by every run of this server (ADR 0033): a call over a quota waits
 * for room, up to `maxWaitMs`, rather than failing at once; the wait is recorded with the call.
 */
export class ProviderQuotas {
  readonly #windows = new Map<string, QuotaWindow>();
  readonly #maxWaitMs: number;

  constructor(quotas: Readonly<Record<string, ProviderQuota>>, maxWaitMs: number) {
    for (const [key, quota] of Object.entries(quotas)) this.#windows.set(key, new QuotaWindow(quota));
    this.#maxWaitMs = maxWaitMs;
  }

  /** Holds room under every quota of `provider` and `provider/model`; a refusal saying which is full after the longest wait. */
  async acquire(provider: string, model: string, signal: AbortSignal): Promise<QuotaHold | { refused: string; waitedMs: number }> {
    const windows = [this.#windows.get(provider), this.#windows.get(`${provider}/${model}`)].filter((window) => window !== undefined);
    const started = Date.now();
    if (windows.length === 0) return { waitedMs: 0, release: () => undefined };
    for (;;) {
      const now = Date.now();
      const full = windows.map((window) => window.blocked(now)).find((reason) => reason !== undefined);
      if (full === undefined) break;
      if (now - started >= this.#maxWaitMs || signal.aborted)
        return { refused: `the ${provider} quota is full (${full}) and stayed so for ${now - started} ms`, waitedMs: now - started };
      await sleep(pollMs);
    }
    const at = Date.now();
    for (const window of windows) {
      window.inFlight++;
      window.starts.push(at);
    }
    let released = false;
    return {
      waitedMs: at - started,
      release: (tokens) => {
        if (released) return;
        released = true;
        for (const window of windows) {
          window.inFlight--;
          window.ends.push({ at: Date.now(), tokens });
        }
      },
    };
  }
}
