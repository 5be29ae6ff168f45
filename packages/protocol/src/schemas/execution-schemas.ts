import type { ExecutionHandle, ExecutionStatus, JsonValue, TaskEnvelope } from '@cairn/core';
import { z } from 'zod';
import { digestSchema } from './digest-schema.ts';
import { resultRecordSchema } from './result-record-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

const jsonValueSchema: z.ZodType<JsonValue> = z.json() as z.ZodType<JsonValue>;

export const taskEnvelopeSchema = z.strictObject({
  executionId: z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
  manifestDigest: digestSchema,
  secrets: z.record(z.string(), z.string()).exactOptional(),
  gateway: z
    .strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the model gateway' }),
      credential: z.string().min(1, 'must not be empty').max(2_048, 'must be at most 2048 characters'),
    })
    .exactOptional(),
  traceContext: z
    .strictObject({
      // Version 00 as the W3C Trace Context defines it; an all-zero trace or span id is invalid there.
      traceparent: z
        .string()
        .regex(
          /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/,
          'must be a version 00 traceparent: 00-<32 hex>-<16 hex>-<2 hex>, ids not all zero',
        ),
      // The specification's limit on the header (32 entries of at most 256 characters each, with commas).
      tracestate: z.string().max(8_223, 'must be at most 8223 characters').exactOptional(),
    })
    .exactOptional(),
});
true satisfies SchemaImplements<typeof taskEnvelopeSchema, TaskEnvelope>;

/** A persisted handle: `executor` and `executionId` plus executor-specific JSON fields. */
export const executionHandleSchema = z
  .object({
    executor: z.string().min(1, 'must not be empty'),
    executionId: z.string().min(1, 'must not be empty'),
  })
  .catchall(jsonValueSchema);
true satisfies SchemaImplements<typeof executionHandleSchema, ExecutionHandle>;

export const executionStatusSchema = z.strictObject({
  state: z.enum(['pending', 'running', 'exited', 'unknown'], 'must be pending, running, exited or unknown'),
  outcome: z.enum(['succeeded', 'failed', 'cancelled', 'timed-out'], 'must be succeeded, failed, cancelled or timed-out').exactOptional(),
  exitCode: z.int('must be a whole number').exactOptional(),
  resultKey: z.string().exactOptional(),
  // The worker's stored record carried with the exit, or null: none was or will be written (ADR 0060).
  result: z.union([resultRecordSchema, z.null()]).exactOptional(),
  reason: z.string().exactOptional(),
});
true satisfies SchemaImplements<typeof executionStatusSchema, ExecutionStatus>;
