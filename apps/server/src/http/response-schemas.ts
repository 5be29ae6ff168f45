import type { ItemRecord, RunRecord, ScheduleRecord } from '@cairn/engine';
import { errorCodes } from '@cairn/protocol';
import { z } from 'zod';
import type { HttpApp } from './http-app.ts';

// What the API answers, declared so the OpenAPI document says it and the serializer holds every
// answer to it (an answer that does not match is a server bug, reported as one). Records are
// loose objects: the fields named here are promised; fields added later still reach clients.

/** Every error: `{ code, message, action, path?, issues? }` (see error-replies.ts). */
export const errorBodySchema = z
  .strictObject({
    code: z.enum(errorCodes),
    message: z.string(),
    action: z.string(),
    path: z.string().optional(),
    issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ description: 'An error: its catalogue code, what was wrong, what to do, and where' });

export const submitResultSchema = z.strictObject({ runId: z.string(), created: z.boolean(), specDigest: z.string() });

/**
 * A loose object typed as the engine record it documents: the fields named are checked and
 * documented; the record's other fields pass through untouched (a field the engine adds reaches
 * clients without this file changing).
 */
function record<Record>(shape: z.core.$ZodLooseShape): z.ZodType<Record> {
  return z.looseObject(shape) as unknown as z.ZodType<Record>;
}

export const runViewSchema = record<RunRecord>({
  runId: z.string(),
  name: z.string(),
  state: z.string(),
  specDigest: z.string(),
  idempotencyKey: z.string().nullable(),
  submittedAt: z.string(),
  finishedAt: z.string().nullable(),
  itemsTotal: z.int(),
  itemsFinished: z.int(),
  itemsFailed: z.int(),
});

export const itemViewSchema = record<ItemRecord>({ runId: z.string(), itemId: z.string(), state: z.string(), approvalRequired: z.boolean() });

export const scheduleViewSchema = record<ScheduleRecord>({ scheduleId: z.string(), cron: z.string(), timeZone: z.string(), nextSlot: z.string().nullable() });

export const secretViewSchema = z.strictObject({ name: z.string(), version: z.int(), updatedAt: z.string(), updatedBy: z.string() });

/** A 204: no body. */
export const noContentSchema = z.null().meta({ description: 'No content' });

/**
 * Declares the error body for the 4xx and 5xx answers of every route registered after it (an
 * `onRoute` hook, so no route can forget it); routes declare their own success answers.
 */
export function declareErrorResponses(app: HttpApp): void {
  app.addHook('onRoute', (route) => {
    const schema = (route.schema ?? {}) as { response?: Record<string, unknown> };
    route.schema = { ...schema, response: { '4xx': errorBodySchema, '5xx': errorBodySchema, ...schema.response } };
  });
}
