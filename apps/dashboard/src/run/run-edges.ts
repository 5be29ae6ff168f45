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

/**
 * The run's item ids: the spec's, in its order, then the items its planners added (ADR 0034), which
 * the item list holds in the order they were added.
 */
export function runItemIds(spec: RunSpecV1 | null, items: ReadonlyMap<string, unknown>): string[] {
  if (spec === null) return [];
  const declared = spec.items.map((item) => item.id);
  const known = new Set(declared);
  return [...declared, ...[...items.keys()].filter((itemId) => !known.has(itemId))];
}

/**
 * Each item a planner added hangs off its planner: the id before its last `/` (a spec's own ids
 * hold none). Its dependencies within its fragment are not drawn: the fragment's specs are not
 * read, only its items.
 */
export function emittedEdges(spec: RunSpecV1, itemIds: readonly string[]): { from: string; to: string }[] {
  const declared = new Set(spec.items.map((item) => item.id));
  return itemIds
    .filter((itemId) => !declared.has(itemId) && itemId.includes('/'))
    .map((itemId) => ({ from: itemId.slice(0, itemId.lastIndexOf('/')), to: itemId }));
}
