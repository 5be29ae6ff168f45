import type { RunSpecV1 } from '@cairn/core';

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
