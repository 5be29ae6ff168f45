import type { EvidenceBundleV1 } from '@cairn/core';
import { z } from 'zod';
import { runSpecV1Schema } from '../spec/run-spec-schema.ts';
import { auditEntrySchema } from './audit-entry-schema.ts';
import { dsseEnvelopeSchema, publicKeyRecordSchema } from './checkpoint-schemas.ts';
import { base64Schema, hashHexSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import { storedManifestSchema } from './dispatch-manifest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

export const evidenceBundleSchema = z.strictObject({
  format: z.literal('cairn.bundle/v1', 'must be cairn.bundle/v1'),
  runId: z.string().min(1),
  spec: runSpecV1Schema,
  specDigest: digestSchema,
  checkpoint: dsseEnvelopeSchema,
  entries: z.array(auditEntrySchema),
  inclusionProof: z.array(hashHexSchema),
  anchors: z.array(dsseEnvelopeSchema),
  keys: z.array(publicKeyRecordSchema),
  manifests: z.array(z.strictObject({ digest: digestSchema, envelope: storedManifestSchema })),
  delegations: z.array(dsseEnvelopeSchema).exactOptional(),
  artifacts: z.array(
    z.strictObject({
      digest: digestSchema,
      kind: z.enum(['patch', 'stdout', 'stderr', 'output', 'egress', 'environment-log', 'environment-egress', 'model-request', 'model-response']),
      itemId: z.string().min(1),
      attempt: z.int().min(1),
    }),
  ),
  fragments: z.array(z.strictObject({ digest: digestSchema, fragment: z.json() })).exactOptional(),
  timestamp: z.strictObject({ token: base64Schema }).exactOptional(),
});
true satisfies SchemaImplements<typeof evidenceBundleSchema, EvidenceBundleV1>;
