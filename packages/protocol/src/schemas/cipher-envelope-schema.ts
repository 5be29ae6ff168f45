import type { CipherEnvelope } from '@cairn/core';
import { z } from 'zod';
import { base64Schema } from './common-schemas.ts';
import type { SchemaImplements } from './schema-implements.ts';

export const cipherEnvelopeSchema = z.strictObject({
  version: z.literal(1),
  algorithm: z.string().min(1),
  keyId: z.string().min(1),
  iv: base64Schema,
  ciphertext: base64Schema,
  tag: base64Schema,
  encryptedKey: base64Schema.exactOptional(),
});
true satisfies SchemaImplements<typeof cipherEnvelopeSchema, CipherEnvelope>;
