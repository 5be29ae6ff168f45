import type { ModelCallData } from '@cairn/core';
import { z } from 'zod';
import { countSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

/**
 * The `data` of a `model.called` audit entry (docs/audit/formats.md). Strict: a member the format
 * does not define is refused, so a verifier never sums figures it does not understand. Absent
 * usage or cost means unknown, never zero.
 */
export const modelCallDataSchema = z.strictObject({
  api: z.enum(['anthropic-messages', 'openai-chat', 'openai-responses'], 'must be anthropic-messages, openai-chat or openai-responses'),
  attempt: z.int('must be a whole number').min(1, 'must be 1 or more'),
  cacheReadTokens: countSchema.exactOptional(),
  cacheWriteTokens: countSchema.exactOptional(),
  costUsd: z.number().min(0, 'must not be negative').exactOptional(),
  firstTokenMs: countSchema.exactOptional(),
  inputTokens: countSchema.exactOptional(),
  itemId: z.string().min(1),
  latencyMs: countSchema,
  model: z.string().min(1),
  outputTokens: countSchema.exactOptional(),
  provider: z.enum(['anthropic', 'openai'], 'must be anthropic or openai'),
  quotaWaitMs: countSchema.exactOptional(),
  reason: z.string().min(1).exactOptional(),
  request: digestSchema,
  response: digestSchema.exactOptional(),
  status: z.int('must be a whole number').min(100, 'must be an HTTP status').max(599, 'must be an HTTP status'),
  stream: z.boolean(),
});
true satisfies SchemaImplements<typeof modelCallDataSchema, ModelCallData>;
