import type { RunSpecV1 } from '@cairn/core';

/** The run's dependencies as edges, prerequisite → dependent: each item's `dependsOn` and the producers of its `needs`. */
export function runEdges(spec: RunSpecV1): { from: string; to: string }[] {
  const edges: { from: string; to: string }[] = [];
  for (const item of spec.items) {
    const prerequisites = new Set([...(item.dependsOn ?? []), ...Object.values(item.needs ?? {}).map((need) => need.from)]);
    for (const from of prerequisites) edges.push({ from, to: item.id });
  }
  return edges;
}
