import { dollars } from '@cairn/protocol/format';
import type { ModelSpendView } from '@cairn/client';

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
