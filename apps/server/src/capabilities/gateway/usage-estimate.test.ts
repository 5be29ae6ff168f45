import { expect, test } from 'vitest';
import { estimateRequest, estimateUsage } from './usage-estimate.ts';

test.each([
  ['anthropic-messages', { max_tokens: 1_000 }, 1_000, 'max_tokens'],
  ['openai-chat', { max_completion_tokens: 700, max_tokens: 900 }, 700, 'max_completion_tokens'],
  ['openai-chat', { max_tokens: 900 }, 900, 'max_tokens'],
  ['openai-responses', { max_output_tokens: 300 }, 300, 'max_output_tokens'],
  ['openai-responses', { max_tokens: 300 }, 64, 'gateway.defaultMaxOutputTokens'],
  ['openai-chat', { max_tokens: 0 }, 64, 'gateway.defaultMaxOutputTokens'],
] as const)('a %s request with %j may spend %i output tokens (%s)', (api, request, outputTokens, outputFrom) => {
  expect(estimateRequest(api, request, 401, 64)).toEqual({ inputTokens: 101, outputTokens, outputFrom });
});

const reserved = { inputTokens: 50, outputTokens: 1_000, outputFrom: 'max_tokens' };

test.each([
  ['nothing said: the reservation', undefined, { inputTokens: 50, outputTokens: 1_000 }, 'counts what was reserved'],
  ['a start and no delta: the reservation', { contentDeltas: 0 }, { inputTokens: 50, outputTokens: 1_000 }, 'counts what was reserved'],
  [
    "Anthropic's start: its input and cache figures, the deltas over its provisional output",
    { inputTokens: 100, cacheReadTokens: 7, cacheWriteTokens: 3, outputTokens: 1, contentDeltas: 30 },
    { inputTokens: 100, outputTokens: 30, cacheReadTokens: 7, cacheWriteTokens: 3 },
    "100 input tokens as the stream's start reported them, 30 output tokens from the 30 content deltas",
  ],
  [
    'a provisional output above the deltas wins',
    { inputTokens: 100, outputTokens: 45, contentDeltas: 30 },
    { inputTokens: 100, outputTokens: 45 },
    '45 output tokens',
  ],
  ['OpenAI deltas: the input from the request', { contentDeltas: 12 }, { inputTokens: 50, outputTokens: 12 }, "50 input tokens from the request's size"],
] as const)('%s', (_name, partial, usage, basis) => {
  const estimated = estimateUsage(partial, reserved);
  expect(estimated.usage).toEqual({ cacheReadTokens: 0, cacheWriteTokens: 0, ...usage });
  expect(estimated.basis).toContain(basis);
});
