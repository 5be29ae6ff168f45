import type { AuditEntry, ModelCallData, ModelCallSpend } from '@cairn/core';
import { modelCallData } from './entry-data.ts';

/** Nothing spent: the start of a sum. */
export const noModelCallSpend: ModelCallSpend = {
  calls: 0,
  succeeded: 0,
  failed: 0,
  denied: 0,
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUsd: 0,
  unknownUsage: 0,
  unknownCost: 0,
};

/** What one entry spent, or undefined when it is not a well-formed `model.called` entry. */
export function spendOfModelCall(entry: AuditEntry): ModelCallSpend | undefined {
  const data = modelCallData(entry);
  return data && spendOfModelCallData(entry.outcome, data);
}

/** What a model call spent, from its entry's outcome and its data (already read). */
export function spendOfModelCallData(outcome: AuditEntry['outcome'], data: ModelCallData): ModelCallSpend {
  const sent = outcome !== 'denied';
  return {
    calls: 1,
    succeeded: outcome === 'success' ? 1 : 0,
    failed: outcome === 'failure' ? 1 : 0,
    denied: sent ? 0 : 1,
    inputTokens: data.inputTokens ?? 0,
    outputTokens: data.outputTokens ?? 0,
    cacheReadTokens: data.cacheReadTokens ?? 0,
    cacheWriteTokens: data.cacheWriteTokens ?? 0,
    costUsd: data.costUsd ?? 0,
    unknownUsage: sent && (data.inputTokens === undefined || data.outputTokens === undefined) ? 1 : 0,
    unknownCost: sent && data.costUsd === undefined ? 1 : 0,
  };
}

/** Two spends together; dollars kept to a billionth, as each call's are, so a sum does not drift. */
export function addModelCallSpend(left: ModelCallSpend, right: ModelCallSpend): ModelCallSpend {
  return {
    calls: left.calls + right.calls,
    succeeded: left.succeeded + right.succeeded,
    failed: left.failed + right.failed,
    denied: left.denied + right.denied,
    inputTokens: left.inputTokens + right.inputTokens,
    outputTokens: left.outputTokens + right.outputTokens,
    cacheReadTokens: left.cacheReadTokens + right.cacheReadTokens,
    cacheWriteTokens: left.cacheWriteTokens + right.cacheWriteTokens,
    costUsd: Math.round((left.costUsd + right.costUsd) * 1e9) / 1e9,
    unknownUsage: left.unknownUsage + right.unknownUsage,
    unknownCost: left.unknownCost + right.unknownCost,
  };
}

/** Every token a spend counts (input, output, cache read and write): what a `budget.tokens` is compared with. */
export function spentTokens(spend: ModelCallSpend): number {
  return spend.inputTokens + spend.outputTokens + spend.cacheReadTokens + spend.cacheWriteTokens;
}

/** Sums the usage and cost of the `model.called` entries among `entries` (others are ignored). */
export function modelCallSpend(entries: Iterable<AuditEntry>): ModelCallSpend {
  let total = noModelCallSpend;
  for (const entry of entries) {
    const spend = spendOfModelCall(entry);
    if (spend) total = addModelCallSpend(total, spend);
  }
  return total;
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
