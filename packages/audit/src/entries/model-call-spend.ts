import type { AuditEntry } from '@cairn/core';
import { modelCallData } from './entry-data.ts';

/**
 * What a run's `model.called` entries say it spent: the gateway's own figures, summed. They are
 * proven (by the entries' inclusion under a signed checkpoint) to be what was logged, not what a
 * provider billed. Sums cover the calls that reported each figure; a denied call was never sent,
 * so it counts as neither known nor unknown usage.
 */
export interface ModelCallSpend {
  /** Well-formed `model.called` entries. */
  readonly calls: number;
  /** Of those: answered 2xx (`success`), failed at the provider or mid-stream (`failure`), refused by the gateway (`denied`). */
  readonly succeeded: number;
  readonly failed: number;
  readonly denied: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  readonly costUsd: number;
  /** Calls sent (not denied) without `inputTokens` or `outputTokens`. */
  readonly unknownUsage: number;
  /** Calls sent (not denied) without `costUsd`. */
  readonly unknownCost: number;
}

/** Sums the usage and cost of the `model.called` entries among `entries` (others are ignored). */
export function modelCallSpend(entries: Iterable<AuditEntry>): ModelCallSpend {
  let calls = 0;
  let succeeded = 0;
  let failed = 0;
  let denied = 0;
  let inputTokens = 0;
  let outputTokens = 0;
  let cacheReadTokens = 0;
  let cacheWriteTokens = 0;
  let costUsd = 0;
  let unknownUsage = 0;
  let unknownCost = 0;
  for (const entry of entries) {
    const data = modelCallData(entry);
    if (!data) continue;
    calls++;
    if (entry.outcome === 'success') succeeded++;
    else if (entry.outcome === 'failure') failed++;
    else denied++;
    inputTokens += data.inputTokens ?? 0;
    outputTokens += data.outputTokens ?? 0;
    cacheReadTokens += data.cacheReadTokens ?? 0;
    cacheWriteTokens += data.cacheWriteTokens ?? 0;
    costUsd += data.costUsd ?? 0;
    if (entry.outcome === 'denied') continue;
    if (data.inputTokens === undefined || data.outputTokens === undefined) unknownUsage++;
    if (data.costUsd === undefined) unknownCost++;
  }
  return { calls, succeeded, failed, denied, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens, costUsd, unknownUsage, unknownCost };
}

/** How the verifier words a spend: every figure, and what it is proven to be. */
export function describeModelCallSpend(spend: ModelCallSpend): string {
  if (spend.calls === 0) return 'no model.called entries';
  const sent = spend.calls - spend.denied;
  // Six decimals: a summed price is a sum of floats, and a millionth of a dollar is below any price a call has.
  const cost = Number(spend.costUsd.toFixed(6));
  return (
    `metered spend as recorded in ${plural(spend.calls, 'model.called entry', 'model.called entries')} ` +
    `(${spend.succeeded} answered, ${spend.failed} failed, ${spend.denied} denied by the gateway): ` +
    `${spend.inputTokens} input, ${spend.outputTokens} output, ${spend.cacheReadTokens} cache-read and ${spend.cacheWriteTokens} cache-write tokens, ` +
    `$${cost} (usage unknown for ${spend.unknownUsage} and cost unknown for ${spend.unknownCost} of the ${plural(sent, 'call', 'calls')} sent; ` +
    "the figures are the gateway's, proven to be what was logged, not what the provider billed)"
  );
}

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
