import { z } from 'zod';
import type { ServerComposition } from '../../../composition/server-composition.ts';
import type { HttpApp } from '../../../http/http-app.ts';
import { runParams } from '../../../http/request-schemas.ts';
import { atifSchemaVersion } from './atif-trajectory.ts';
import { runTrajectories } from './run-trajectories.ts';

const query = z.strictObject({
  item: z.string().min(1).max(128).optional().meta({ description: "Only this item's attempts (an agent item)" }),
  format: z.enum(['atif'], 'must be atif (the Agent Trajectory Interchange Format): the only format trajectories export as').optional(),
});

const trajectoriesAnswer = z
  .strictObject({
    runId: z.string(),
    format: z.literal('atif'),
    schemaVersion: z.string().meta({ description: 'The ATIF version every document follows (ATIF-v1.4)' }),
    trajectories: z.array(
      z.strictObject({
        itemId: z.string(),
        attempt: z.int(),
        digest: z.string().meta({ description: "sha256 of the document's canonical JSON (RFC 8785)" }),
        trajectory: z.record(z.string(), z.unknown()).meta({ description: 'The ATIF document; session_id is the attempt id' }),
      }),
    ),
  })
  .meta({ id: 'RunTrajectories', description: "A run's agent attempts as ATIF trajectories, one document per attempt, in item then attempt order" });

/**
 * A run's agent attempts as ATIF trajectories (`audit:read`, as the run's evidence bundle): built
 * on request from its `model.called` entries and the bodies they name, so the same run gives the
 * same documents and digests each time.
 */
export function registerTrajectoryRoutes(app: HttpApp, { service, storage }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/trajectories',
    {
      config: { action: 'audit.read' },
      schema: {
        operationId: 'getRunTrajectories',
        summary: "A run's agent attempts as ATIF trajectories (one document per attempt, each with its digest), built from its recorded model calls",
        params: runParams,
        querystring: query,
        response: { 200: trajectoriesAnswer },
      },
    },
    async (request) => {
      const trajectories = await runTrajectories(service, storage, request.params.runId, request.query.item);
      return {
        runId: request.params.runId,
        format: 'atif' as const,
        schemaVersion: atifSchemaVersion,
        trajectories: trajectories.map((entry) => ({ ...entry, trajectory: { ...entry.trajectory } })),
      };
    },
  );
}
