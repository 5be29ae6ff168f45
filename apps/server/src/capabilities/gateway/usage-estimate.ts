import type { ModelUsage } from './model-usage.ts';
import type { MeteredApi, PartialUsage } from './usage-meter.ts';

/**
 * What a call may spend, judged from its request before it is sent: its input from the body's
 * size (about four bytes a token, the usual rate for English and code in JSON), its output from
 * the most it asked for (`max_tokens`, `max_completion_tokens`, `max_output_tokens`) or, when it
 * named none, `defaultOutputTokens`. What the gateway reserves of a budget for the call, and what
 * it counts for a call answered without a usage it can read.
 */
export interface RequestEstimate {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Where the output figure came from: the request's field, or the setting. */
  readonly outputFrom: string;
}

/** Bytes of a request body counted as one input token. */
const bytesPerToken = 4;

const outputFields: Readonly<Record<MeteredApi, readonly string[]>> = {
  'anthropic-messages': ['max_tokens'],
  'openai-chat': ['max_completion_tokens', 'max_tokens'],
  'openai-responses': ['max_output_tokens'],
};

export function estimateRequest(api: MeteredApi, request: Readonly<Record<string, unknown>>, bodyBytes: number, defaultOutputTokens: number): RequestEstimate {
  const inputTokens = Math.ceil(bodyBytes / bytesPerToken);
  for (const field of outputFields[api]) {
    const value = request[field];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return { inputTokens, outputTokens: value, outputFrom: field };
  }
  return { inputTokens, outputTokens: defaultOutputTokens, outputFrom: 'gateway.defaultMaxOutputTokens' };
}

/**
 * The usage counted for a call the provider answered (2xx) without a usage the gateway could read
 * (a stream cut short, or the agent hung up before its last event): what the answer said, else
 * the request's estimate. Input: the stream's start event's figures, else the estimate's. Output:
 * the larger of the provisional count the stream gave and the content deltas seen (a token each
 * at least). An answer that said nothing at all counts the whole estimate. `basis` says which,
 * for the entry's reason: such an entry is marked as estimated there.
 */
export function estimateUsage(partial: PartialUsage | undefined, request: RequestEstimate): { usage: ModelUsage; basis: string } {
  const inputKnown = partial?.inputTokens !== undefined;
  const outputKnown = partial !== undefined && (partial.outputTokens !== undefined || partial.contentDeltas > 0);
  if (!inputKnown && !outputKnown)
    return {
      usage: { inputTokens: request.inputTokens, outputTokens: request.outputTokens, cacheReadTokens: 0, cacheWriteTokens: 0 },
      basis: `the answer reported nothing, so the call counts what was reserved for it: ${request.inputTokens} input tokens (from the request's size) and ${request.outputTokens} output tokens (${request.outputFrom})`,
    };
  const outputTokens = Math.max(partial?.outputTokens ?? 0, partial?.contentDeltas ?? 0);
  const usage: ModelUsage = {
    inputTokens: partial?.inputTokens ?? request.inputTokens,
    outputTokens,
    cacheReadTokens: partial?.cacheReadTokens ?? 0,
    cacheWriteTokens: partial?.cacheWriteTokens ?? 0,
  };
  const input = inputKnown
    ? `${usage.inputTokens} input tokens as the stream's start reported them`
    : `${usage.inputTokens} input tokens from the request's size`;
  return { usage, basis: `${input}, ${outputTokens} output tokens from the ${partial?.contentDeltas ?? 0} content deltas that passed` };
}
