import type { RunSpecV1 } from '@cairn/core';

/** What a new run of the same spec does with each item up to a failed one. */
export interface RerunPlan {
  /** Items upstream of the failed one that succeeded and are `pure`: the engine reuses their results when their inputs are unchanged. */
  readonly reused: readonly string[];
  /** Items upstream of it that run again: not pure (their effect may differ), or they did not succeed. */
  readonly rerun: readonly string[];
}

/**
 * What running a run again does up to `itemId`. Cairn re-runs nothing in place: a finished run's
 * items are final. A new run of the same spec on the same snapshot re-runs every item, except that
 * the engine finishes a `pure` item with the result an earlier attempt produced from equal inputs
 * (`item.reused`, audited). So of the items `itemId` waits on (through the run's graph, whatever
 * added them), those that succeeded and are pure are reused; the rest run again.
 */
export function rerunPlan(
  itemId: string,
  spec: RunSpecV1,
  edges: readonly { readonly from: string; readonly to: string }[],
  states: ReadonlyMap<string, string>,
): RerunPlan {
  const upstream = new Set<string>();
  const waiting = [itemId];
  for (let current = waiting.pop(); current !== undefined; current = waiting.pop()) {
    for (const edge of edges) {
      if (edge.to === current && !upstream.has(edge.from)) {
        upstream.add(edge.from);
        waiting.push(edge.from);
      }
    }
  }
  const effects = new Map(spec.items.map((item) => [item.id, item.effect ?? 'read-impure']));
  const reused: string[] = [];
  const rerun: string[] = [];
  for (const upstreamId of [...upstream].sort()) {
    (states.get(upstreamId) === 'succeeded' && effects.get(upstreamId) === 'pure' ? reused : rerun).push(upstreamId);
  }
  return { reused, rerun };
}
