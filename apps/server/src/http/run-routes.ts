import { budgetSpecSchema, CairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import { assertTakeOverGranted } from '../capabilities/delivery/branch-ownership.ts';
import { withDeliveries } from '../capabilities/delivery/item-delivery.ts';
import { RunSpend } from '../capabilities/gateway/model-spend.ts';
import { currentRunBudget, raisedRunBudget } from '../capabilities/gateway/run-budget.ts';
import { bodyLimits } from './body-limits.ts';
import type { HttpApp } from './http-app.ts';
import { withAttemptEgress, withItemEgress } from './attempt-egress.ts';
import { withAttemptEnvironment, withItemEnvironment } from './attempt-environment.ts';
import { withItemCandidates } from './item-candidates.ts';
import { withApprovals } from './item-approvals.ts';
import { itemParams, reasonBody, runParams } from './request-schemas.ts';
import { requireItem, requireRun } from './require-run.ts';
import { attemptViewSchema, bytesAnswer, itemViewSchema, runViewSchema, submitResultSchema } from './response-schemas.ts';
import { runView } from './run-view.ts';
import { sendBlob } from './send-blob.ts';

/**
 * A run and its items: submit a run (JSON, or YAML; an Idempotency-Key makes a retry safe), read
 * it with its spend and why it failed, list its items (with their approvals and deliveries), an
 * item's attempts and a succeeded item's patch, cancel the run, give it a new budget, and approve,
 * reject or cancel an item (with an optional reason, kept in its audit entries). In this order: the
 * OpenAPI document lists paths as they are first registered. Listing runs is `run-list-routes.ts`;
 * an item's logs and provenance are `log-routes.ts` and `provenance-routes.ts`.
 */
export function registerRunRoutes(app: HttpApp, { service, storage }: ServerComposition): void {
  app.post(
    '/v1/runs',
    {
      bodyLimit: bodyLimits.runSpec,
      config: { action: 'runs.submit', body: 'run spec' },
      schema: {
        operationId: 'submitRun',
        summary: 'Submit a run (JSON, or YAML as application/yaml); Idempotency-Key makes it safe to retry',
        headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }).passthrough(),
        response: { 200: submitResultSchema, 201: submitResultSchema },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      await assertTakeOverGranted(request.body, request.mayTakeOverBranches, { actor: request.actor!, hostAudit: service.hostAudit });
      const result = await service.submit(request.body, {
        actor: request.actor!,
        source: 'the request body',
        secretGrants: request.secretGrants ?? [],
        ...(typeof key === 'string' ? { idempotencyKey: key } : {}),
      });
      return reply.status(result.created ? 201 : 200).send(result);
    },
  );
  app.get(
    '/v1/runs/:runId',
    { config: { action: 'runs.read' }, schema: { operationId: 'getRun', summary: 'A run', params: runParams, response: { 200: runViewSchema } } },
    async (request) => runView(service, request.params.runId),
  );
  app.get(
    '/v1/runs/:runId/items',
    {
      config: { action: 'runs.read' },
      schema: { operationId: 'listRunItems', summary: "A run's items", params: runParams, response: { 200: z.array(itemViewSchema) } },
    },
    async (request) => {
      const { runId } = await requireRun(service, request.params.runId);
      const items = await withApprovals(service, runId, await service.items(runId));
      const egress = await withItemEgress(service, runId, await withDeliveries(service, storage, runId, items));
      return withItemCandidates(service, runId, await withItemEnvironment(service, runId, egress));
    },
  );
  app.get(
    '/v1/runs/:runId/items/:itemId/attempts',
    {
      config: { action: 'runs.read' },
      schema: {
        operationId: 'listItemAttempts',
        summary:
          "An item's attempts, first to last: when each was dispatched and ended, its exit code, why it did not succeed, behind a network allow-list what its egress proxy refused, and the warm environment it ran over",
        params: itemParams,
        response: { 200: z.array(attemptViewSchema) },
      },
    },
    async (request) => {
      const { runId, itemId } = request.params;
      await requireItem(service, runId, itemId);
      return withAttemptEnvironment(service, runId, await withAttemptEgress(service, runId, await service.attempts(runId, itemId)));
    },
  );
  app.get(
    '/v1/runs/:runId/items/:itemId/patch',
    {
      config: { action: 'blobs.read' },
      schema: {
        operationId: 'getItemPatch',
        summary: "A succeeded item's patch (git diff --binary); 404 when it changed nothing",
        params: itemParams,
        response: { 200: bytesAnswer('text/x-diff', 'The patch, as git diff --binary wrote it; x-cairn-digest names its digest') },
      },
    },
    async (request, reply) => {
      const { runId, itemId } = request.params;
      const digest = (await service.artifacts(runId, itemId))?.['patch'];
      if (digest === undefined)
        throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} has no patch: it has not succeeded, or it changed nothing.`, {
          path: 'itemId',
        });
      return sendBlob(
        reply,
        storage,
        digest,
        'text/x-diff',
        () => new CairnError('CAIRN_NOT_FOUND', `The patch ${digest} of item ${itemId} is not in storage.`, { path: 'itemId' }),
      );
    },
  );
  app.post(
    '/v1/runs/:runId/cancel',
    {
      config: { action: 'runs.cancel' },
      schema: {
        operationId: 'cancelRun',
        summary: 'Cancel a run (with an optional reason, kept in its audit entries)',
        params: runParams,
        body: reasonBody,
        response: { 202: runViewSchema },
      },
    },
    async (request, reply) => {
      await service.cancelRun(request.params.runId, request.actor!, request.body?.reason);
      return reply.status(202).send((await service.run(request.params.runId))!);
    },
  );
  app.post(
    '/v1/runs/:runId/budget',
    {
      config: { action: 'runs.budget' },
      schema: {
        operationId: 'raiseRunBudget',
        summary:
          "Give a run a new budget (the limits named replace the run's; each must be more than it has spent), with the reason kept in its audit entry; a run awaiting a raise runs again",
        params: runParams,
        body: z.strictObject({ budget: budgetSpecSchema, reason: z.string().min(1).max(2_000) }),
        response: { 202: runViewSchema },
      },
    },
    async (request, reply) => {
      const { runId } = request.params;
      await requireRun(service, runId);
      const [spec, spend] = await Promise.all([service.spec(runId), RunSpend.read(service.auditEntries({ runId, action: 'model.called' }))]);
      const current = await currentRunBudget(service.auditEntries({ runId, action: 'run.budget-raised' }), spec?.budget);
      const budget = raisedRunBudget(runId, current, request.body.budget, spend.run);
      await service.raiseBudget(runId, budget, request.actor!, request.body.reason);
      return reply.status(202).send(await runView(service, runId));
    },
  );
  for (const action of ['approve', 'reject', 'cancel'] as const)
    app.post(
      `/v1/runs/:runId/items/:itemId/${action}`,
      {
        config: { action: `items.${action}` },
        schema: {
          operationId: `${action}Item`,
          summary: `${action[0]!.toUpperCase()}${action.slice(1)} an item (with an optional reason, kept in its audit entries)`,
          ...(action === 'cancel'
            ? {}
            : {
                description:
                  "Under an approval policy (the item's approval: { required, from, selfApproval }) this is the caller's vote: the item waits until `required` distinct people the policy counts approve, and answers with its `approval` (the votes so far, how many it still needs). A vote the policy does not count (the run's submitter, someone with none of the roles or groups of `from`) is 403 CAIRN_APPROVAL_NOT_ALLOWED, a second vote by the same person 409 CAIRN_APPROVAL_DUPLICATE, and a rejection needs a reason.",
              }),
          params: itemParams,
          body: reasonBody,
          response: { 202: itemViewSchema },
        },
      },
      async (request, reply) => {
        const { runId, itemId } = request.params;
        const reason = request.body?.reason;
        if (action === 'approve') await service.approve(runId, itemId, request.actor!, reason, request.voter ?? {});
        else if (action === 'reject') await service.reject(runId, itemId, request.actor!, reason, request.voter ?? {});
        else await service.cancelItem(runId, itemId, request.actor!, reason);
        const item = (await service.items(runId)).find((candidate) => candidate.itemId === itemId)!;
        return reply.status(202).send((await withApprovals(service, runId, [item]))[0]!);
      },
    );
}
