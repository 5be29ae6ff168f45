import type { ModelUsage } from './model-usage.ts';

/**
 * What reading a provider's usage object gave: the usage in Cairn's convention, or why there
 * is none. A problem is never papered over with zeros: a call whose usage cannot be read is
 * recorded as unknown, not as free.
 */
export type UsageReading = { usage: ModelUsage } | { problem: string };

/**
 * Reads an Anthropic Messages `usage` object. `input_tokens` already excludes the cache
 * buckets, so it is taken as is. The cache fields are absent (older API versions) or `null`
 * when the request used no caching, which is zero, not unknown.
 */
export function readAnthropicUsage(usage: unknown): UsageReading {
  if (!isRecord(usage)) return { problem: `anthropic usage is ${describe(usage)}, not an object` };
  const input = requiredCount(usage, 'input_tokens', 'anthropic usage');
  if (typeof input === 'string') return { problem: input };
  const output = requiredCount(usage, 'output_tokens', 'anthropic usage');
  if (typeof output === 'string') return { problem: output };
  const cacheRead = optionalCount(usage, 'cache_read_input_tokens', 'anthropic usage');
  if (typeof cacheRead === 'string') return { problem: cacheRead };
  const cacheWrite = optionalCount(usage, 'cache_creation_input_tokens', 'anthropic usage');
  if (typeof cacheWrite === 'string') return { problem: cacheWrite };
  return { usage: { inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite } };
}

/**
 * Reads an OpenAI Chat Completions `usage` object. `prompt_tokens` includes
 * `prompt_tokens_details.cached_tokens`, so the cached part is taken out of the input count;
 * `completion_tokens` already includes reasoning tokens. OpenAI reports no cache writes.
 */
export function readOpenAIChatUsage(usage: unknown): UsageReading {
  return readOpenAIUsage(usage, 'openai chat usage', 'prompt_tokens', 'completion_tokens', 'prompt_tokens_details');
}

/**
 * Reads an OpenAI Responses `usage` object. `input_tokens` includes
 * `input_tokens_details.cached_tokens`, so the cached part is taken out of the input count;
 * `output_tokens` already includes reasoning tokens.
 */
export function readOpenAIResponsesUsage(usage: unknown): UsageReading {
  return readOpenAIUsage(usage, 'openai responses usage', 'input_tokens', 'output_tokens', 'input_tokens_details');
}

function readOpenAIUsage(usage: unknown, what: string, inputKey: string, outputKey: string, detailsKey: string): UsageReading {
  if (!isRecord(usage)) return { problem: `${what} is ${describe(usage)}, not an object` };
  const input = requiredCount(usage, inputKey, what);
  if (typeof input === 'string') return { problem: input };
  const output = requiredCount(usage, outputKey, what);
  if (typeof output === 'string') return { problem: output };
  const details = usage[detailsKey];
  let cached = 0;
  if (details !== undefined && details !== null) {
    if (!isRecord(details)) return { problem: `${what}.${detailsKey} is ${describe(details)}, not an object` };
    const read = optionalCount(details, 'cached_tokens', `${what}.${detailsKey}`);
    if (typeof read === 'string') return { problem: read };
    cached = read;
  }
  if (cached > input) return { problem: `${what}: ${detailsKey}.cached_tokens (${cached}) exceeds ${inputKey} (${input})` };
  return { usage: { inputTokens: input - cached, outputTokens: output, cacheReadTokens: cached, cacheWriteTokens: 0 } };
}

function requiredCount(record: Record<string, unknown>, key: string, what: string): number | string {
  const value = record[key];
  if (value === undefined || value === null) return `${what} has no ${key}`;
  return isTokenCount(value) ? value : `${what}.${key} is ${describe(value)}, not a token count`;
}

function optionalCount(record: Record<string, unknown>, key: string, what: string): number | string {
  const value = record[key];
  if (value === undefined || value === null) return 0;
  return isTokenCount(value) ? value : `${what}.${key} is ${describe(value)}, not a token count`;
}

function isTokenCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** @internal Shared with the meter, which also has to tell an object from anything else. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return String(value);
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
