import type { ItemPriority, ItemSpec, RunSpecV1 } from '@cairn/core';

/**
 * The dispatch priorities a run or an item may have (`priority` in the run spec): a whole number,
 * higher dispatched first. What is given nowhere is `default`.
 */
export const priorityLevels = { lowest: 1, default: 3, highest: 5 } as const;

/** A run's priority: `priority`, or `defaults.priority` (a spec gives at most one), else the default. */
export function runPriority(spec: RunSpecV1): ItemPriority {
  return spec.priority ?? spec.defaults?.priority ?? priorityLevels.default;
}

/** An item's priority: its own, else its run's (`runPriority`). */
export function itemPriority(spec: RunSpecV1, item: ItemSpec): ItemPriority {
  return item.priority ?? runPriority(spec);
}
