import type { WorkspaceSpec } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { RunSpend } from '../capabilities/gateway/model-spend.ts';
import { currentRunBudget } from '../capabilities/gateway/run-budget.ts';
import { requireRun } from './require-run.ts';

/** A run as `GET /v1/runs/{runId}` answers it: with its spend, and why it failed when it did. */
export async function runView(service: EngineService, runId: string) {
  const run = await requireRun(service, runId);
  const [spend, spec] = await Promise.all([RunSpend.read(service.auditEntries({ runId: run.runId, action: 'model.called' })), service.spec(run.runId)]);
  const budget = await currentRunBudget(service.auditEntries({ runId: run.runId, action: 'run.budget-raised' }), spec?.budget);
  const spent = {
    ...(spend.run.calls === 0 ? {} : { spend: { total: spend.run, items: spend.items() } }),
    ...(budget === undefined ? {} : { budget }),
    ...fetchedWorkspaceView(spec?.workspace),
  };
  if (run.itemsFailed === 0) return { ...run, ...spent };
  // Why it failed, in the answer that says it did: items are read only for runs with failures.
  const failedItems = (await service.items(run.runId))
    .filter((item) => item.state === 'failed')
    .map((item) => ({ itemId: item.itemId, failure: item.failure }));
  return { ...run, failedItems, ...spent };
}

/** A workspace fetched from a repository, as the Run view says it: what the run ran on. */
function fetchedWorkspaceView(workspace: WorkspaceSpec | undefined) {
  const { repository, ref, commit, snapshot } = workspace ?? {};
  if (repository === undefined || ref === undefined || commit === undefined || snapshot === undefined) return {};
  return { workspace: { repository, ref, commit, snapshot } };
}
