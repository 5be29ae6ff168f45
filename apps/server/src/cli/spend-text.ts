import type { ModelSpendView } from '@cairn/client';

/** Dollars as a person reads them: at least four decimals below a cent, two above. */
function dollars(usd: number): string {
  return `$${usd >= 1 ? usd.toFixed(2) : Number(usd.toPrecision(3)).toString()}`;
}

/**
 * What model calls spent, in one line: dollars (a floor when some cost is unknown, and it says
 * so), calls, and tokens by kind; `brief` keeps only dollars and tokens (an item's line).
 */
export function spendText(spend: ModelSpendView, brief = false): string {
  const tokens = spend.inputTokens + spend.outputTokens + spend.cacheReadTokens + spend.cacheWriteTokens;
  const unknown = spend.unknownCost > 0 ? ` (cost unknown for ${spend.unknownCost} of them)` : '';
  if (brief) return `${dollars(spend.costUsd)}${spend.unknownCost > 0 ? '+' : ''}, ${tokens} tokens`;
  const calls = `${spend.calls} model ${spend.calls === 1 ? 'call' : 'calls'}${spend.denied > 0 ? `, ${spend.denied} refused by the gateway` : ''}`;
  return `${dollars(spend.costUsd)} for ${calls}${unknown}; ${tokens} tokens (${spend.inputTokens} input, ${spend.outputTokens} output, ${spend.cacheReadTokens} cache read, ${spend.cacheWriteTokens} cache write)`;
}
