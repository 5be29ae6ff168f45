import type { RunStore } from '../store/sqlite/run-store.ts';

/**
 * Whether an item is a planner (`emits`), whose output's bytes are read with its result: its
 * fragment joins the run in the transaction that records its success. Read from the stored spec
 * only for results that have an output, so that other completions pay nothing for it.
 */
export function emitsItems(runs: RunStore, runId: string, itemId: string): () => boolean {
  // Canonical JSON: the member is written `"emits":{`, and a string value holding that text only costs a read.
  return () => runs.itemSpec(runId, itemId)?.spec.includes('"emits":{') ?? false;
}
