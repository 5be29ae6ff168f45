import type { EngineService, ItemRecord, RunRecord } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';

/** The run a request names; CAIRN_NOT_FOUND at `runId` (a 404) when there is none. */
export async function requireRun(service: Pick<EngineService, 'run'>, runId: string): Promise<RunRecord> {
  const run = await service.run(runId);
  if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { path: 'runId' });
  return run;
}

/** The item a request names; CAIRN_NOT_FOUND at `runId` or `itemId` (a 404) when there is none. */
export async function requireItem(service: Pick<EngineService, 'run' | 'items'>, runId: string, itemId: string): Promise<ItemRecord> {
  const item = (await service.items((await requireRun(service, runId)).runId)).find((candidate) => candidate.itemId === itemId);
  if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} has no item ${JSON.stringify(itemId)}.`, { path: 'itemId' });
  return item;
}
