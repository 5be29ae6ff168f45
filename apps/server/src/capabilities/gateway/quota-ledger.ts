import type { ProviderQuota } from './provider-quotas.ts';

/**
 * Where the providers' quotas are counted (ADR 0033): the calls in flight, the calls started and
 * the tokens used in the rolling minute, by quota key (`openai`, `openai/gpt-4o`). In this process
 * for a server on SQLite (`MemoryQuotaLedger`); in the state database for one on PostgreSQL
 * (`PostgresQuotaLedger`), so that every replica counts against the same room.
 *
 * To implement one: `take` decides with `quotaFull` over what the ledger holds, and checks and
 * records a call under every claimed key as one step that no other taker (in any process sharing
 * the ledger) can interleave with. Waiting for room is not the ledger's: `ProviderQuotas` asks
 * again every `pollIntervalMs`.
 */
export interface QuotaLedger {
  /** How long a caller waits before asking again while a quota stays full. */
  readonly pollIntervalMs: number;
  /**
   * Takes room for one call under every claim, all or none: the call then counts as in flight and
   * as started under each key until its release. `full` names the first claim without room and
   * why. Throws (CAIRN_STATE_UNAVAILABLE) when a shared ledger cannot be reached: nothing is taken.
   * `reserveTokens` (the call's estimate; 0 by default) counts under `tokensPerMinute` while the
   * call is in flight, replaced by the tokens it used once released.
   */
  take(claims: readonly QuotaClaim[], reserveTokens?: number): Promise<QuotaTaken>;
  /** Stops its timers; calls it still holds are released (their tokens unknown, counted as 0). */
  close(): Promise<void>;
}

/** One quota a call needs room under: its key and its limits (from `gateway.quotas`). */
export interface QuotaClaim {
  readonly key: string;
  readonly quota: ProviderQuota;
}

/** A taken call (release it once, when it ends, with the tokens it used) or the claim that had no room. */
export type QuotaTaken = { readonly release: (tokens: number) => Promise<void> } | { readonly full: { readonly key: string; readonly reason: string } };

/** What one quota key holds now: the figures `quotaFull` decides from. */
export interface QuotaUsage {
  /** Calls taken and not yet released (in a shared ledger: whose holder still renews them). */
  readonly inFlight: number;
  /** Calls taken in the rolling minute, ended or not. */
  readonly startedInMinute: number;
  /** Tokens (all kinds) of the calls released in the rolling minute. */
  readonly tokensInMinute: number;
  /** Tokens the calls in flight reserved (0 when none did). */
  readonly reservedTokens?: number;
}

/** The rolling window of `requestsPerMinute` and `tokensPerMinute`. */
export const quotaWindowMs = 60_000;

/**
 * Why one more call, reserving `reserveTokens`, does not fit under `quota` now, or undefined when it
 * does. Under `tokensPerMinute` a call's reservation must fit beside the tokens of the minute and
 * those the calls in flight reserved; with none in flight, a call goes while any room is left (a
 * reservation larger than the room would otherwise never go).
 */
export function quotaFull(quota: ProviderQuota, usage: QuotaUsage, reserveTokens = 0): string | undefined {
  const { concurrent, requestsPerMinute, tokensPerMinute } = quota;
  if (concurrent !== undefined && usage.inFlight >= concurrent) return `${concurrent} calls in flight`;
  if (requestsPerMinute !== undefined && usage.startedInMinute >= requestsPerMinute) return `${requestsPerMinute} calls in the last minute`;
  if (tokensPerMinute !== undefined && usage.tokensInMinute >= tokensPerMinute) return `${tokensPerMinute} tokens in the last minute`;
  const reserved = usage.reservedTokens ?? 0;
  if (tokensPerMinute !== undefined && usage.inFlight > 0 && usage.tokensInMinute + reserved + reserveTokens > tokensPerMinute)
    return `${tokensPerMinute} tokens in the last minute, with ${usage.tokensInMinute} used and ${reserved} reserved by the calls in flight`;
  return undefined;
}
