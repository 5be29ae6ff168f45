import type { RunStore } from '../store/sqlite/run-store.ts';

/**
 * Whether an item's output bytes are read with its result, for the transaction that records its
 * success: it is a planner (`emits`: its fragment joins the run), or an item maps over its output
 * (`forEach`: its instances join the run). Asked only of results that have an output, so other
 * completions pay nothing for it.
 */
export function outputWanted(runs: RunStore, runId: string, itemId: string): () => boolean {
  // Canonical JSON: a member is written `"emits":{`; a string value holding that text only costs a read.
  return () =>
    (runs.itemSpec(runId, itemId)?.spec.includes('"emits":{') ?? false) ||
    runs.dependents(runId, itemId).some((dependent) => runs.itemSpec(runId, dependent)?.spec.includes('"forEach":{') ?? false);
}
