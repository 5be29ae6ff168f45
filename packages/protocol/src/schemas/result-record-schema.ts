import type { ResultRecord } from '@cairn/core';
import { z } from 'zod';
import { attemptFailureSchema } from './attempt-failure-schema.ts';
import { countSchema, timestampSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

export const resultRecordSchema = z.strictObject({
  version: z.literal('cairn.result/v1', 'must be cairn.result/v1'),
  runId: z.string().min(1),
  itemId: z.string().min(1),
  attempt: z.int().min(1),
  fencingToken: countSchema,
  executionId: z.string().min(1),
  manifestDigest: digestSchema,
  outcome: z.enum(['succeeded', 'failed', 'cancelled', 'timed-out']),
  exitCode: z.int().nullable(),
  startedAt: timestampSchema,
  finishedAt: timestampSchema,
  artifacts: z.strictObject({
    patch: digestSchema.exactOptional(),
    stdout: digestSchema,
    stderr: digestSchema,
    output: digestSchema.exactOptional(),
    egress: digestSchema.exactOptional(),
    environmentLog: digestSchema.exactOptional(),
    environmentEgress: digestSchema.exactOptional(),
  }),
  patchStats: z.strictObject({ filesChanged: countSchema, bytes: countSchema }).exactOptional(),
  failure: attemptFailureSchema.exactOptional(),
  limitsHit: z
    .array(
      z.strictObject({
        limit: z.enum(['workspace', 'tmp', 'workspace-or-tmp']),
        refusedWrites: countSchema,
        limitBytes: countSchema,
        message: z.string().min(1).max(2_000),
      }),
    )
    .max(3)
    .exactOptional(),
  egress: z
    .strictObject({
      allowed: countSchema,
      refused: countSchema,
      refusals: z
        .array(
          z.strictObject({
            host: z.string().max(300),
            port: z.int().min(0).max(65_535),
            reason: z.string().min(1).max(64),
            message: z.string().min(1).max(2_000),
            wouldAdmit: z.string().max(300).nullable(),
          }),
        )
        .max(20),
      flagged: z.array(z.string().min(1).max(2_000)).max(20),
    })
    .exactOptional(),
  storageWaits: z
    .array(z.strictObject({ waitedMs: countSchema, retries: countSchema, reason: z.string().min(1).max(400) }))
    .min(1)
    .max(10)
    .exactOptional(),
  check: z
    .strictObject({
      passed: z.boolean(),
      exitCode: z.int().nullable(),
      score: z.number().nullable(),
      tail: z.string().max(2_000),
    })
    .exactOptional(),
  environment: z.strictObject({ digest: digestSchema, built: z.boolean(), setupMs: countSchema }).exactOptional(),
});
true satisfies SchemaImplements<typeof resultRecordSchema, ResultRecord>;
