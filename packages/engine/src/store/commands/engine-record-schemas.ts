import { digestSchema, type SchemaImplements } from '@cairn/protocol';
import { z } from 'zod';
import type { ScheduleDefinition, ScheduleRecord } from '../../schedules/schedule-book.ts';
import type { SecretRecord } from '../../secrets/secret-store.ts';
import type { SubmitOptions, SubmitResult } from '../../state/run-state-machine.ts';

// The engine's own values as they cross JSON in a command or its answer. Each schema is held to
// its type (`SchemaImplements`), so the two cannot drift apart, and exported as that type (whose
// arrays are read-only). They check shapes: what a value means is the engine's to check, with the
// same errors a caller in its own process gets.

const catchUpSchema = z.union([z.enum(['skip', 'latest']), z.strictObject({ all: z.number() })]);
const overlapSchema = z.enum(['skip', 'allow', 'cancel-previous']);

const submitOptions = z.strictObject({
  idempotencyKey: z.string().exactOptional(),
  source: z.string().exactOptional(),
  runId: z.string().exactOptional(),
  secretGrants: z.union([z.literal('all'), z.array(z.string())]).exactOptional(),
});
true satisfies SchemaImplements<typeof submitOptions, Omit<SubmitOptions, 'actor' | 'context'>>;
/** A submission's options but who submits (the command's actor) and what the server knows exists (not sent). */
export const submitOptionsSchema: z.ZodType<Omit<SubmitOptions, 'actor' | 'context'>> = submitOptions;

const submitResult = z.strictObject({ runId: z.string(), created: z.boolean(), specDigest: digestSchema });
true satisfies SchemaImplements<typeof submitResult, SubmitResult>;
export const submitResultSchema: z.ZodType<SubmitResult> = submitResult;

const scheduleDefinition = z.strictObject({
  scheduleId: z.string(),
  cron: z.string(),
  timeZone: z.string().exactOptional(),
  spec: z.unknown(),
  catchUp: catchUpSchema.exactOptional(),
  overlap: overlapSchema.exactOptional(),
});
true satisfies SchemaImplements<typeof scheduleDefinition, ScheduleDefinition>;
export const scheduleDefinitionSchema: z.ZodType<ScheduleDefinition> = scheduleDefinition;

const scheduleRecord = z.strictObject({
  scheduleId: z.string(),
  cron: z.string(),
  timeZone: z.string(),
  catchUp: catchUpSchema,
  overlap: overlapSchema,
  specDigest: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  nextSlot: z.string().nullable(),
  lastRunId: z.string().nullable(),
});
true satisfies SchemaImplements<typeof scheduleRecord, ScheduleRecord>;
export const scheduleRecordSchema: z.ZodType<ScheduleRecord> = scheduleRecord;

const secretRecord = z.strictObject({ name: z.string(), version: z.number(), updatedAt: z.string(), updatedBy: z.string() });
true satisfies SchemaImplements<typeof secretRecord, SecretRecord>;
export const secretRecordSchema: z.ZodType<SecretRecord> = secretRecord;
