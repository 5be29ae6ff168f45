import type { RunSpecV1 } from '@cairn/core';
import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import type { HttpApp } from './http-app.ts';
import { requireRun } from './require-run.ts';
import { record } from './response-schemas.ts';

const params = z.strictObject({ runId: z.string().min(1).max(200) });

// Loose: the fields the graph needs are promised (each item's id, dependsOn and needs); the rest
// of the canonical spec passes through as it was stored.
const runSpecAnswerShape = {
  name: z.string(),
  items: z.array(
    z.looseObject({ id: z.string(), dependsOn: z.array(z.string()).optional(), needs: z.record(z.string(), z.looseObject({ from: z.string() })).optional() }),
  ),
};
const runSpecAnswer = record<RunSpecV1, typeof runSpecAnswerShape>(runSpecAnswerShape, {
  description: 'The run spec as submitted, in canonical form (see RunSpec): its items, their dependencies and needs',
});

/**
 * `GET /v1/runs/:runId/spec` (`runs:read`): the spec a run was submitted with, so a client can
 * draw its item graph (dependsOn and needs) and show what each item runs. The evidence bundle
 * holds the same spec, but needs `audit:read` and exists only once a checkpoint covers the run.
 */
export function registerRunSpecRoutes(app: HttpApp, { service }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/spec',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'getRunSpec',
        summary: 'The spec a run was submitted with (its items, dependencies and needs)',
        params,
        response: { 200: runSpecAnswer },
      },
    },
    async (request) => {
      const run = await requireRun(service, request.params.runId);
      return (await service.spec(run.runId))!;
    },
  );
}
