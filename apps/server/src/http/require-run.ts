import type { Engine, ItemRecord, RunRecord } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';

/** The run a request names; CAIRN_NOT_FOUND at `runId` (a 404) when there is none. */
export function requireRun(engine: Engine, runId: string): RunRecord {
  const run = engine.run(runId);
  if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { path: 'runId' });
  return run;
}

/** The item a request names; CAIRN_NOT_FOUND at `runId` or `itemId` (a 404) when there is none. */
export function requireItem(engine: Engine, runId: string, itemId: string): ItemRecord {
  const item = engine.items(requireRun(engine, runId).runId).find((candidate) => candidate.itemId === itemId);
  if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} has no item ${JSON.stringify(itemId)}.`, { path: 'itemId' });
  return item;
}
