import type { Engine, RunRecord } from '@cairn/engine';
import { CairnError } from '@cairn/protocol';

/** The run a request names; CAIRN_NOT_FOUND at `runId` (a 404) when there is none. */
export function requireRun(engine: Engine, runId: string): RunRecord {
  const run = engine.run(runId);
  if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { path: 'runId' });
  return run;
}
