import type { AnchorReceipt, Checkpoint, DsseEnvelope, PublicKeyRecord } from '@cairn/core';
import { z } from 'zod';
import { base64Schema, countSchema, hashHexSchema, timestampSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

export const checkpointSchema = z.strictObject({
  origin: z.string().min(1, 'must name the log'),
  treeSize: countSchema,
  rootHash: hashHexSchema,
  time: timestampSchema,
});
true satisfies SchemaImplements<typeof checkpointSchema, Checkpoint>;

export const dsseEnvelopeSchema = z.strictObject({
  payloadType: z.string().min(1),
  payload: base64Schema,
  signatures: z.array(z.strictObject({ keyid: z.string(), sig: base64Schema })).min(1, 'must hold at least one signature'),
});
true satisfies SchemaImplements<typeof dsseEnvelopeSchema, DsseEnvelope>;

export const publicKeyRecordSchema = z.strictObject({
  keyId: digestSchema,
  algorithm: z.enum(['ed25519', 'ecdsa-p256-sha256'], 'must be ed25519 or ecdsa-p256-sha256'),
  publicKey: base64Schema,
});
true satisfies SchemaImplements<typeof publicKeyRecordSchema, PublicKeyRecord>;

export const anchorReceiptSchema = z.strictObject({
  anchor: z.string().min(1),
  guarantee: z.enum(['detect', 'external-immutable']),
  location: z.string().min(1),
  anchoredAt: timestampSchema,
  origin: z.string().min(1),
  treeSize: countSchema,
  rootHash: hashHexSchema,
  envelopeDigest: digestSchema,
  retainUntil: timestampSchema.exactOptional(),
  timestampToken: base64Schema.exactOptional(),
});
true satisfies SchemaImplements<typeof anchorReceiptSchema, AnchorReceipt>;
