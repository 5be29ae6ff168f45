import type { BatchedManifest, DispatchManifest, ManifestBatch, StoredManifest } from '@cairn/core';
import { z } from 'zod';
import { environmentSpecSchema } from '../spec/environment-spec-schema.ts';
import { networkCredentialSpecSchema } from '../spec/network-spec-schema.ts';
import { runtimeSpecSchema } from '../spec/run-spec-schema.ts';
import { dsseEnvelopeSchema } from './checkpoint-schemas.ts';
import { base64Schema, countSchema, stringMapSchema, timestampSchema } from './common-schemas.ts';
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
  inputs: z.record(
    z.string(),
    z.strictObject({
      from: z.string().min(1),
      select: z.enum(['patch', 'output', 'stdout', 'stderr']),
      digest: digestSchema,
      path: z.string().min(1).exactOptional(),
    }),
  ),
  apply: z.array(z.string()),
  env: stringMapSchema,
  secretNames: z.array(z.string()),
  limits: z.strictObject({
    timeoutMs: z.int().min(1),
    network: z.union([
      z.boolean(),
      z.strictObject({ allow: z.array(z.string().min(1)).min(1), deny: z.array(z.string().min(1)), credentials: z.array(networkCredentialSpecSchema) }),
    ]),
    maxPatchBytes: z.int().min(0),
    maxLogBytes: z.int().min(0),
    isolation: z.string().min(1).max(64).exactOptional(),
    pathRules: z.literal('posix').exactOptional(),
    stallTimeoutMs: z.int().min(1).exactOptional(),
  }),
  effect: z.enum(['pure', 'read-impure', 'write-impure']),
  issuedAt: timestampSchema,
  candidate: z
    .strictObject({
      index: z.int().min(1),
      of: z.int().min(2),
      round: z.int().min(1),
      check: z.strictObject({ argv: z.array(z.string()).min(1), timeoutMs: z.int().min(1) }),
    })
    .refine((candidate) => candidate.index <= candidate.of, { error: 'must be at most `of`', path: ['index'] })
    .exactOptional(),
  environment: environmentSpecSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof dispatchManifestSchema, DispatchManifest>;

/** The statement a dispatch pass signs once for its manifests (ADR 0026). */
export const manifestBatchSchema = z.strictObject({
  version: z.literal('cairn.manifest-batch/v1', 'must be cairn.manifest-batch/v1'),
  size: z.int('must be a whole number').min(2, 'a batch holds at least 2 manifests'),
  root: base64Schema,
});
true satisfies SchemaImplements<typeof manifestBatchSchema, ManifestBatch>;

/** A manifest stored with its batch (ADR 0026); its proof is at most 64 hashes (a tree of 2^64 leaves). */
export const batchedManifestSchema = z.strictObject({
  batch: dsseEnvelopeSchema,
  index: countSchema,
  manifest: base64Schema,
  proof: z.array(base64Schema).max(64, 'must hold at most 64 hashes'),
});
true satisfies SchemaImplements<typeof batchedManifestSchema, BatchedManifest>;

/** A dispatch manifest as stored: a DSSE envelope of the manifest alone, or a batched manifest. */
export const storedManifestSchema = z.union([dsseEnvelopeSchema, batchedManifestSchema], 'must be a DSSE envelope of a manifest, or a manifest with its batch');
true satisfies SchemaImplements<typeof storedManifestSchema, StoredManifest>;
