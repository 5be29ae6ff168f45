import type { CairnEvent } from '@cairn/core';
import { z } from 'zod';
import { attemptStates, itemStates, runStates } from '../lifecycle/lifecycle-transitions.ts';
import { attemptFailureSummarySchema } from './attempt-failure-schema.ts';
import { countSchema, timestampSchema } from './common-schemas.ts';
import type { SchemaImplements } from './schema-implements.ts';

const eventBase = { id: countSchema, time: timestampSchema, runId: z.string().min(1) };

export const cairnEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...eventBase, type: z.literal('run.state'), state: z.enum(runStates) }),
  z.strictObject({
    ...eventBase,
    type: z.literal('item.state'),
    itemId: z.string().min(1),
    state: z.enum(itemStates),
    failure: attemptFailureSummarySchema.exactOptional(),
  }),
  z.strictObject({
    ...eventBase,
    type: z.literal('attempt.state'),
    itemId: z.string().min(1),
    attempt: z.int().min(1),
    state: z.enum(attemptStates),
    failure: attemptFailureSummarySchema.exactOptional(),
  }),
]);
true satisfies SchemaImplements<typeof cairnEventSchema, CairnEvent>;
