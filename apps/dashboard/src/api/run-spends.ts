import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardApi } from './dashboard-api.ts';
import type { RunSummary } from './run-summary.ts';

/** Runs read at once: a page of fifty opens no more than this many requests together. */
const concurrentReads = 4;

/**
 * What each listed run's model calls spent, in dollars (null when it made none through the
 * gateway). `GET /v1/runs` does not carry spend, `GET /v1/runs/{runId}` does: each run is read on
 * its own, a finished run once (its spend no longer changes), a live one again when the list says
 * it changed state.
 */
export function useRunSpends(api: DashboardApi, runs: readonly RunSummary[]): ReadonlyMap<string, number | null> {
  const [spends, setSpends] = useState<ReadonlyMap<string, number | null>>(new Map());
  // The state each run was in when it was read.
  const readAt = useRef(new Map<string, string>());
  const key = runs.map((run) => `${run.runId}=${run.state}`).join('\n');
  useEffect(() => {
    const due = runs.filter((run) => readAt.current.get(run.runId) !== run.state);
    if (due.length === 0) return;
    for (const run of due) readAt.current.set(run.runId, run.state);
    let cancelled = false;
    const queue = [...due];
    const read = async (): Promise<void> => {
      for (let run = queue.shift(); run !== undefined; run = queue.shift()) {
        const { runId } = run;
        try {
          const latest = await api.json<RunSummary>(`/v1/runs/${encodeURIComponent(runId)}`);
          if (!cancelled) setSpends((current) => new Map(current).set(runId, latest.spend?.total.costUsd ?? null));
        } catch {
          // Read again with its next change; its bar shows no spend meanwhile.
          readAt.current.delete(runId);
        }
      }
    };
    void Promise.all(Array.from({ length: Math.min(concurrentReads, queue.length) }, read));
    return () => {
      cancelled = true;
      for (const run of queue) readAt.current.delete(run.runId);
    };
  }, [api, key]);
  return spends;
}
