import type { ItemState, RunState } from '@cairn/core';

// The closed vocabularies of @cairn/protocol, repeated here as values: the dashboard bundles no
// server package. A type check keeps each list complete (a state added to core fails to compile here).
const runStateList = ['queued', 'running', 'awaiting-budget', 'succeeded', 'failed', 'cancelled'] as const satisfies readonly RunState[];
const itemStateList = [
  'blocked',
  'awaiting-approval',
  'ready',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
] as const satisfies readonly ItemState[];
true satisfies RunState extends (typeof runStateList)[number] ? true : false;
true satisfies ItemState extends (typeof itemStateList)[number] ? true : false;

/** Run and item states in lifecycle order, for counts, filters and legends. */
export const lifecycleStates = { runs: runStateList as readonly RunState[], items: itemStateList as readonly ItemState[] };
