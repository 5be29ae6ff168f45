import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { requireRun } from './require-run.ts';
import { runGraphPageSchema } from './response-schemas.ts';
import { readRunGraphPage, runGraphCursorPattern, runGraphLimits } from './run-graph.ts';

/** A run's whole graph as it stands, the items it gained as it grew included, a page at a time (`runs:read`, as its items). */
export function registerGraphRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/graph',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'getRunGraph',
        summary: `A run's graph as it stands, the items planners, forEach items and merges added included: its items (nodes) by position, how they wait on each other (edges) and which item added which (groups), ${runGraphLimits.default} nodes a page unless limit says (at most ${runGraphLimits.max}); pass nextCursor as cursor for the next page`,
        params: z.strictObject({ runId: z.string().min(1).max(200) }),
        querystring: z.strictObject({
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(runGraphLimits.max)
            .optional()
            .describe(`nodes a page holds at most (${runGraphLimits.default} by default)`),
          cursor: z.string().regex(runGraphCursorPattern, 'is not a cursor this server gave out: pass the nextCursor of the previous page, or none').optional(),
        }),
        response: { 200: runGraphPageSchema },
      },
    },
    async (request) => {
      const { runId } = await requireRun(service, request.params.runId);
      const { limit = runGraphLimits.default, cursor } = request.query;
      return readRunGraphPage(service, runId, { afterPosition: cursor === undefined ? -1 : Number(cursor), limit });
    },
  );
}
