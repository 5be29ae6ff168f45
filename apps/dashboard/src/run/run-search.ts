import type { RunSpecV1 } from '@cairn/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import type { RunSummary } from '../api/run-summary.ts';

/** Specs read at once while a search reads those of the runs listed. */
const concurrentReads = 6;

/**
 * Whether `run` matches `term` (case-insensitive, a part of the text is enough): its name or id,
 * a label of the run or of one of its items (as `key=value`, so `team=`, `payments` and
 * `team=payments` all find `team: payments`), or one of its item ids.
 */
export function runMatches(run: RunSummary, spec: RunSpecV1 | undefined, term: string): boolean {
  const needle = term.trim().toLowerCase();
  if (needle === '') return true;
  const texts = [run.name, run.runId];
  if (spec !== undefined) {
    texts.push(...Object.entries(spec.labels ?? {}).map(([key, value]) => `${key}=${value}`));
    for (const item of spec.items) texts.push(item.id, ...Object.entries(item.labels ?? {}).map(([key, value]) => `${key}=${value}`));
  }
  return texts.some((text) => text.toLowerCase().includes(needle));
}

/**
 * The specs (`GET /v1/runs/{runId}/spec`) of `runs`, read only while `searching`: labels and item
 * ids are in a run's spec, not in the run list, and the API has no search, so a search looks
 * through the runs the page has loaded. Each spec is read once (a run's spec never changes).
 */
export function useRunSpecs(
  api: DashboardApi,
  runs: readonly RunSummary[],
  searching: boolean,
): { readonly specs: ReadonlyMap<string, RunSpecV1>; readonly pending: number } {
  const [specs, setSpecs] = useState<ReadonlyMap<string, RunSpecV1>>(new Map());
  const asked = useRef(new Set<string>());
  const [pending, setPending] = useState(0);
  const runIds = runs.map((run) => run.runId).join('\n');
  useEffect(() => {
    if (!searching) return;
    const queue = runs.map((run) => run.runId).filter((runId) => !asked.current.has(runId));
    if (queue.length === 0) return;
    for (const runId of queue) asked.current.add(runId);
    setPending((count) => count + queue.length);
    const read = async (): Promise<void> => {
      for (let runId = queue.shift(); runId !== undefined; runId = queue.shift()) {
        try {
          const spec = await api.json<RunSpecV1>(`/v1/runs/${encodeURIComponent(runId)}/spec`);
          setSpecs((current) => new Map(current).set(runId, spec));
        } catch {
          // Searched by name and id only; asked again by the next search.
          asked.current.delete(runId);
        } finally {
          setPending((count) => count - 1);
        }
      }
    };
    void Promise.all(Array.from({ length: Math.min(concurrentReads, queue.length) }, read));
  }, [api, runIds, searching]);
  return { specs, pending };
}
