import type { AuditEntry } from '@cairn/core';

/** What model calls spent: tokens of every kind together, and US dollars where a price was known. */
export interface Spend {
  readonly calls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  /** Every token counted: what a `budget.tokens` is compared with. */
  readonly tokens: number;
  readonly costUsd: number;
  /** Calls whose usage or price was unknown: `costUsd` leaves them out (never guessed), so it is a floor. */
  readonly unpricedCalls: number;
}

export const noSpend: Spend = { calls: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, tokens: 0, costUsd: 0, unpricedCalls: 0 };

/** The spend a `model.called` entry records (a denied call spends nothing, but is a call). */
export function spendOfEntry(entry: AuditEntry): Spend {
  const data = entry.data;
  const count = (name: string) => (typeof data[name] === 'number' ? (data[name] as number) : 0);
  const inputTokens = count('inputTokens');
  const outputTokens = count('outputTokens');
  const cacheReadTokens = count('cacheReadTokens');
  const cacheWriteTokens = count('cacheWriteTokens');
  const priced = typeof data['costUsd'] === 'number';
  const spent = entry.outcome !== 'denied';
  return {
    calls: 1,
    inputTokens,
    outputTokens,
    cacheReadTokens,
    cacheWriteTokens,
    tokens: inputTokens + outputTokens + cacheReadTokens + cacheWriteTokens,
    costUsd: priced ? (data['costUsd'] as number) : 0,
    unpricedCalls: spent && !priced ? 1 : 0,
  };
}

/** Two spends together; dollars kept to a billionth, as each call's are. */
export function addSpend(left: Spend, right: Spend): Spend {
  return {
    calls: left.calls + right.calls,
    inputTokens: left.inputTokens + right.inputTokens,
    outputTokens: left.outputTokens + right.outputTokens,
    cacheReadTokens: left.cacheReadTokens + right.cacheReadTokens,
    cacheWriteTokens: left.cacheWriteTokens + right.cacheWriteTokens,
    tokens: left.tokens + right.tokens,
    costUsd: Math.round((left.costUsd + right.costUsd) * 1e9) / 1e9,
    unpricedCalls: left.unpricedCalls + right.unpricedCalls,
  };
}

/** A run's spend, whole and by item and attempt, summed from its `model.called` entries. */
export interface RunSpend {
  readonly run: Spend;
  readonly items: Readonly<Record<string, { readonly spend: Spend; readonly attempts: Readonly<Record<string, Spend>> }>>;
}

/** Sums the `model.called` entries among `entries` (a run's). */
export function runSpendOf(entries: Iterable<AuditEntry>): RunSpend {
  let run = noSpend;
  const items: Record<string, { spend: Spend; attempts: Record<string, Spend> }> = {};
  for (const entry of entries) {
    if (entry.action !== 'model.called') continue;
    const itemId = entry.data['itemId'];
    const attempt = entry.data['attempt'];
    if (typeof itemId !== 'string' || typeof attempt !== 'number') continue;
    const spend = spendOfEntry(entry);
    run = addSpend(run, spend);
    const item = (items[itemId] ??= { spend: noSpend, attempts: {} });
    item.spend = addSpend(item.spend, spend);
    item.attempts[String(attempt)] = addSpend(item.attempts[String(attempt)] ?? noSpend, spend);
  }
  return { run, items };
}
