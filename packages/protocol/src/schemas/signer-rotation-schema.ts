import type { SignerRotation } from '@cairn/core';
import { z } from 'zod';
import { countSchema, hashHexSchema, timestampSchema } from './common-schemas.ts';
import { publicKeyRecordSchema } from './checkpoint-schemas.ts';
import type { SchemaImplements } from './schema-implements.ts';

/** The statement a signing key signs when it hands the log over to its successor (ADR 0019). */
export const signerRotationSchema = z
  .strictObject({
    version: z.literal('cairn.signer-rotation/v1'),
    origin: z.string().min(1, 'must name the log'),
    from: publicKeyRecordSchema,
    to: publicKeyRecordSchema,
    fromCheckpoint: countSchema,
    rootHash: hashHexSchema,
    time: timestampSchema,
  })
  .refine((rotation) => rotation.from.keyId !== rotation.to.keyId, { error: 'must hand over to another key', path: ['to', 'keyId'] });
true satisfies SchemaImplements<typeof signerRotationSchema, SignerRotation>;
