import type { ItemAttemptRecord } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/compose-server.ts';
import type { HttpApp } from './http-app.ts';
import { requireRun } from './require-run.ts';
import { attemptFailureViewSchema } from './response-schemas.ts';

const params = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });

// Loose, typed as the engine's record: the fields named are promised; others pass through.
const attemptViewSchema = z
  .looseObject({
    attempt: z.int(),
    state: z.string(),
    exitCode: z.int().nullable(),
    artifacts: z.record(z.string(), z.string()).nullable(),
    dispatchedAt: z.string(),
    finishedAt: z.string().nullable(),
    failure: attemptFailureViewSchema.nullable(),
  })
  .meta({
    id: 'Attempt',
    description:
      'One attempt of an item: how it ended (state, exit code), when it was dispatched and finished, what it stored (kind → digest: patch, stdout, stderr, output) and why it did not succeed',
  }) as unknown as z.ZodType<ItemAttemptRecord>;

/**
 * `GET /v1/runs/:runId/items/:itemId/attempts` (`runs:read`): an item's attempts, first to last —
 * each one's outcome, timing, failure and artifacts — so a client shows every try of a retried
 * item with its own reason, and knows whether an item left a patch without asking for it.
 */
export function registerItemAttemptRoutes(app: HttpApp, { engine }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/items/:itemId/attempts',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'listItemAttempts',
        summary: "An item's attempts: outcome, timing, failure and artifacts of each",
        params,
        response: { 200: z.array(attemptViewSchema) },
      },
    },
    async (request) => {
      const { runId, itemId } = request.params;
      requireRun(engine, runId);
      if (!engine.items(runId).some((item) => item.itemId === itemId))
        throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} has no item ${itemId}.`, { path: 'itemId' });
      return engine.attempts(runId, itemId);
    },
  );
}
