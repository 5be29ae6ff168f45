import type { components } from './api/openapi.d.ts';

/** What model calls spent, as `GET /v1/runs/:runId` answers it (`spend.total`, `spend.items`): the API's ModelSpend. */
export type ModelSpend = components['schemas']['ModelSpend'];

/**
 * US dollars as a person reads them: two decimals from a dollar up; below, three significant
 * digits but never fewer than two decimals (`$0.50`, `$0.123`, `$0.000412`).
 */
export function dollars(usd: number): string {
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  const significant = Number(usd.toPrecision(3));
  const decimals = significant === 0 ? 0 : Math.max(0, 2 - Math.floor(Math.log10(significant)));
  return `$${significant.toFixed(Math.min(20, Math.max(2, decimals)))}`.replace(/(\.\d\d\d*?)0+$/, '$1');
}

/**
 * A spend in a line: dollars (marked as a floor when some calls have no known cost), calls, and
 * tokens with how many of them were read from a cache.
 */
export function spendText(spend: ModelSpend): string {
  const tokens = spend.inputTokens + spend.outputTokens + spend.cacheReadTokens + spend.cacheWriteTokens;
  const floor = spend.unknownCost > 0 ? ` (at least: ${spend.unknownCost} without a known cost)` : '';
  const refused = spend.denied > 0 ? `, ${spend.denied} refused` : '';
  return `${dollars(spend.costUsd)}${floor} on ${spend.calls} model ${spend.calls === 1 ? 'call' : 'calls'}${refused} · ${tokens} tokens (${spend.inputTokens} in, ${spend.outputTokens} out, ${spend.cacheReadTokens} cached)`;
}
