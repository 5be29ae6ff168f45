import type { DispatchManifest } from '@cairn/core';
import { z } from 'zod';
import { runtimeSpecSchema } from '../spec/run-spec-schema.ts';
import { countSchema, stringMapSchema, timestampSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

export const dispatchManifestSchema = z.strictObject({
  version: z.literal('cairn.manifest/v1', 'must be cairn.manifest/v1'),
  runId: z.string().min(1),
  itemId: z.string().min(1),
  attempt: z.int().min(1),
  fencingToken: countSchema,
  executionId: z.string().min(1),
  runtime: runtimeSpecSchema,
  workspace: digestSchema,
  inputs: z.record(z.string(), z.strictObject({ from: z.string().min(1), select: z.enum(['patch', 'output', 'stdout', 'stderr']), digest: digestSchema })),
  apply: z.array(z.string()),
  env: stringMapSchema,
  secretNames: z.array(z.string()),
  limits: z.strictObject({
    timeoutMs: z.int().min(1),
    network: z.boolean(),
    maxPatchBytes: z.int().min(0),
    maxLogBytes: z.int().min(0),
    isolation: z.string().min(1).max(64).exactOptional(),
    pathRules: z.literal('posix').exactOptional(),
  }),
  effect: z.enum(['pure', 'read-impure', 'write-impure']),
  issuedAt: timestampSchema,
});
true satisfies SchemaImplements<typeof dispatchManifestSchema, DispatchManifest>;
