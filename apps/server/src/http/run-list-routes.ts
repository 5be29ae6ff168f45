import { isRunCursor, isRunListTime, runListLimits } from '@cairn/engine';
import { runStates } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { runPageSchema } from './response-schemas.ts';

const submitTime = z.string().refine(isRunListTime, 'is not an RFC 3339 time with an offset: write it as 2026-11-22T10:00:00Z or 2026-11-22T11:00:00+01:00');

/** The run history, newest first, a page at a time (`runs:read`). */
export function registerRunListRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/runs',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'listRuns',
        summary:
          'Runs, newest first, a page at a time, by state, exact name, submitter and submit time: pass nextCursor as cursor, with the same filters, for the next page',
        querystring: z.strictObject({
          state: z.enum(runStates).optional(),
          name: z.string().min(1).max(1_000).optional().describe('only runs of exactly this name'),
          submitter: z.string().min(1).max(1_000).optional().describe('only runs submitted by this actor id (as runs show it in submittedBy)'),
          submittedAfter: submitTime.optional().describe('only runs submitted at or after this RFC 3339 time (inclusive), e.g. 2026-11-22T10:00:00Z'),
          submittedBefore: submitTime.optional().describe('only runs submitted before this RFC 3339 time (exclusive)'),
          limit: z.coerce.number().int().min(1).max(runListLimits.max).optional(),
          cursor: z
            .string()
            .min(1)
            .max(1_000)
            .refine(isRunCursor, 'is not a cursor this server gave out: pass the nextCursor of the previous page, or none')
            .optional(),
        }),
        response: { 200: runPageSchema },
      },
    },
    async (request) => {
      const { limit, cursor, ...filters } = request.query;
      const page = await service.runs({ ...definedOnly(filters), ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) });
      return { ...page, runs: [...page.runs] };
    },
  );
}

/** The filters a request gave (an absent query parameter is no filter). */
function definedOnly<T extends object>(filters: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(filters).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
