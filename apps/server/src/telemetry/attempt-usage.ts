import type { ModelCall } from '@cairn/engine';

/** What an attempt's model calls add up to, for its `invoke_agent` span. */
export interface AttemptUsage {
  calls: number;
  /** As the conventions count input: the cached tokens included. */
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  costUsd: number | undefined;
}

/** `usage` with `call` added; a total stays undefined until a call reports its part. */
export function addModelCall(usage: AttemptUsage | undefined, call: ModelCall): AttemptUsage {
  const input = call.inputTokens === undefined ? undefined : call.inputTokens + (call.cacheReadTokens ?? 0) + (call.cacheWriteTokens ?? 0);
  return {
    calls: (usage?.calls ?? 0) + 1,
    inputTokens: sum(usage?.inputTokens, input),
    outputTokens: sum(usage?.outputTokens, call.outputTokens),
    costUsd: sum(usage?.costUsd, call.costUsd),
  };
}

function sum(total: number | undefined, part: number | undefined): number | undefined {
  return part === undefined ? total : (total ?? 0) + part;
}
