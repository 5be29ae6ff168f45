import { dollars } from '@cairn/protocol/format';
import type { components } from './api/openapi.d.ts';

/** What model calls spent, as `GET /v1/runs/:runId` answers it (`spend.total`, `spend.items`): the API's ModelSpend. */
export type ModelSpend = components['schemas']['ModelSpend'];

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
