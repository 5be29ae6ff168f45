import type { LiveLogState } from '@cairn/core';
import { z } from 'zod';
import { countSchema, timestampSchema } from './common-schemas.ts';
import type { SchemaImplements } from './schema-implements.ts';

const streamProgressSchema = z.strictObject({ bytes: countSchema, truncated: z.boolean() });

/** The live log progress a worker writes while an attempt runs (see `LiveLogState`). */
export const liveLogStateSchema = z.strictObject({
  version: z.literal('cairn.live-log/v1', 'must be cairn.live-log/v1'),
  executionId: z.string().min(1),
  stdout: streamProgressSchema,
  stderr: streamProgressSchema,
  updatedAt: timestampSchema,
});
true satisfies SchemaImplements<typeof liveLogStateSchema, LiveLogState>;
