import type { KeyDelegation } from '@cairn/core';
import { z } from 'zod';
import { publicKeyRecordSchema } from './checkpoint-schemas.ts';
import { timestampSchema } from './common-schemas.ts';
import { digestSchema } from './digest-schema.ts';
import type { SchemaImplements } from './schema-implements.ts';

/** The payload of a delegation statement (`application/vnd.cairn.key-delegation+json`). */
export const keyDelegationSchema = z.strictObject({
  delegate: publicKeyRecordSchema,
  purpose: z.literal('dispatch-manifest', 'must be dispatch-manifest'),
  delegatedBy: digestSchema,
  issuedAt: timestampSchema,
});
true satisfies SchemaImplements<typeof keyDelegationSchema, KeyDelegation>;
