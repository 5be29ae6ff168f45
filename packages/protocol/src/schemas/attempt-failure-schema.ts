import type { AttemptFailure, AttemptFailureSummary } from '@cairn/core';
import { z } from 'zod';
import type { SchemaImplements } from './schema-implements.ts';

/**
 * An attempt's failure as a result record carries it. Records written before a failure had more
 * than `{ code, message }` still read: how the runtime ended and its stderr then read as unknown
 * (null) and empty.
 */
export const attemptFailureSchema = z.strictObject({
  code: z.string().min(1),
  message: z.string(),
  exitCode: z.int().nullable().default(null),
  signal: z.string().min(1).nullable().default(null),
  rule: z.string().min(1).exactOptional(),
  stderrTail: z.string().default(''),
  mergeConflict: z.strictObject({ from: z.string().min(1), position: z.int().nonnegative(), merged: z.array(z.string().min(1)) }).exactOptional(),
});
true satisfies SchemaImplements<typeof attemptFailureSchema, AttemptFailure>;

/** The code and rule of a failure, as audit entries and events carry it. */
export const attemptFailureSummarySchema = z.strictObject({ code: z.string().min(1), rule: z.string().min(1).exactOptional() });
true satisfies SchemaImplements<typeof attemptFailureSummarySchema, AttemptFailureSummary>;
