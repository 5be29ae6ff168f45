import { isRunCursor, runListLimits } from '@cairn/engine';
import { runStates } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import type { HttpApp } from './http-app.ts';
import { runPageSchema } from './response-schemas.ts';

/** The run history, newest first, a page at a time (`runs:read`). */
export function registerRunListRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/runs',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'listRuns',
        summary: 'Runs, newest first, a page at a time: pass nextCursor as cursor for the next page',
        querystring: z.strictObject({
          state: z.enum(runStates).optional(),
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
      const { state, limit, cursor } = request.query;
      return service.runs({ ...(state ? { state } : {}), ...(limit ? { limit } : {}), ...(cursor ? { cursor } : {}) });
    },
  );
}
