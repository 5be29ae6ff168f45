import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardApi } from '../api/dashboard-api.ts';
import type { AttemptView } from '../item/item-attempts.tsx';
import type { ItemSummary } from '../api/run-summary.ts';

/** States in which an item that never ran has no attempt to read. */
const withoutAttempts = new Set(['blocked', 'awaiting-approval', 'skipped']);
/** Items whose attempts are read at once: a large run does not open hundreds of requests together. */
const concurrentReads = 6;

/**
 * Every item's attempts (`GET .../items/{itemId}/attempts`), for the graph's durations and attempt
 * counts and the run's timeline. The API has no call for a whole run's attempts: each item is read
 * on its own, again only when its state changed since it was read (a dispatch, a retry, an end).
 * `enabled` false reads nothing (a run too large to draw).
 */
export function useRunAttempts(
  api: DashboardApi,
  runId: string,
  items: ReadonlyMap<string, ItemSummary>,
  enabled: boolean,
): ReadonlyMap<string, readonly AttemptView[]> {
  const [attempts, setAttempts] = useState<ReadonlyMap<string, readonly AttemptView[]>>(new Map());
  // The state each item was in when its attempts were last asked for.
  const readAt = useRef(new Map<string, string>());
  const stateKey = [...items.values()].map((item) => `${item.itemId}=${item.state}`).join('\n');
  useEffect(() => {
    if (!enabled) return;
    const due = [...items.values()].filter((item) => !withoutAttempts.has(item.state) && readAt.current.get(item.itemId) !== item.state);
    if (due.length === 0) return;
    for (const item of due) readAt.current.set(item.itemId, item.state);
    let cancelled = false;
    const queue = [...due];
    const read = async (): Promise<void> => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const { itemId } = item;
        try {
          const latest = await api.json<AttemptView[]>(`/v1/runs/${encodeURIComponent(runId)}/items/${encodeURIComponent(itemId)}/attempts`);
          if (!cancelled) setAttempts((current) => new Map(current).set(itemId, latest));
        } catch {
          // Read again with the next state change; the graph shows the item without its durations meanwhile.
          readAt.current.delete(itemId);
        }
      }
    };
    void Promise.all(Array.from({ length: Math.min(concurrentReads, queue.length) }, read));
    return () => {
      cancelled = true;
      // What this pass did not finish is read by the next.
      for (const item of queue) readAt.current.delete(item.itemId);
    };
  }, [api, runId, stateKey, enabled]);
  return attempts;
}
