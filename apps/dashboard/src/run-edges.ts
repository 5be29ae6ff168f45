import type { RunSpecV1 } from '@cairn/core';

/** The run's dependencies as edges, prerequisite → dependent: each item's `dependsOn`, the producers of its `needs` and the items it merges. */
export function runEdges(spec: RunSpecV1): { from: string; to: string }[] {
  const edges: { from: string; to: string }[] = [];
  for (const item of spec.items) {
    const merged = item.runtime.kind === 'merge' ? item.runtime.from : [];
    const prerequisites = new Set([...(item.dependsOn ?? []), ...Object.values(item.needs ?? {}).map((need) => need.from), ...merged]);
    for (const from of prerequisites) edges.push({ from, to: item.id });
  }
  return edges;
}
