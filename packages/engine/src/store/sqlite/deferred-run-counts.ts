import type { EngineDatabase } from '../shared/engine-database.ts';
import { deferUntilCommit, type DeferredWriter } from './deferred-writes.ts';
import type { RunProgress } from '../../records/run-records.ts';

/**
 * The finished and failed counts of runs, added a transaction body at a time: the first item of a
 * run that finishes in a body updates the run's row (and reads its progress back); the next ones
 * of that run add in memory and answer from it, and the sum is written once, when the body ends
 * (`deferUntilCommit`), or as soon as anything reads or writes the run's row (`flush`). A fan-out
 * finishes about fifty items of one run in each body: one UPDATE instead of fifty.
 *
 * One per database, shared by every RunStore over it (`runCountsOf`): a run read through one
 * store must see the counts another added.
 */
export class DeferredRunCounts implements DeferredWriter {
  readonly #database: EngineDatabase;
  readonly #countFinished;
  readonly #addFinished;
  /** Runs counted in the body running now: their progress as last written, and what was added since. */
  readonly #pending = new Map<string, { readonly written: RunProgress; finished: number; failed: number }>();

  constructor(database: EngineDatabase) {
    this.#database = database;
    // Returns what ending the run needs, not the whole row: RETURNING costs by the column
    // (the whole row, its idempotency key cut out, took ~5 µs; these ~3 µs).
    this.#countFinished = database.prepare<[number, string], RunProgress>(
      `UPDATE runs SET items_finished = items_finished + 1, items_failed = items_failed + ? WHERE run_id = ?
       RETURNING run_id AS runId, state, items_total AS itemsTotal, items_finished AS itemsFinished, items_failed AS itemsFailed, cancel_requested_by AS cancelRequestedBy`,
    );
    this.#addFinished = database.prepare('UPDATE runs SET items_finished = items_finished + ?, items_failed = items_failed + ? WHERE run_id = ?');
  }

  /** Counts one more finished item of the run (and whether it failed); returns the run's progress with it. */
  itemFinished(runId: string, failed: boolean): RunProgress | undefined {
    const pending = this.#pending.get(runId);
    if (pending === undefined) {
      const written = this.#countFinished.get(failed ? 1 : 0, runId);
      if (written !== undefined && deferUntilCommit(this.#database, this)) this.#pending.set(runId, { written, finished: 0, failed: 0 });
      return written;
    }
    pending.finished++;
    if (failed) pending.failed++;
    const { written } = pending;
    return { ...written, itemsFinished: written.itemsFinished + pending.finished, itemsFailed: written.itemsFailed + pending.failed };
  }

  /** Writes the counts added in memory to the runs' rows, in the transaction still open. */
  flush(): void {
    if (this.#pending.size === 0) return;
    for (const [runId, { finished, failed }] of this.#pending) if (finished > 0) this.#addFinished.run(finished, failed, runId);
    this.#pending.clear();
  }

  /** Forgets them: the body that added them is rolling back (and with it the first update). */
  discard(): void {
    this.#pending.clear();
  }
}

const shared = new WeakMap<EngineDatabase, DeferredRunCounts>();

/** The run counts of `database`, made at first use. */
export function runCountsOf(database: EngineDatabase): DeferredRunCounts {
  let counts = shared.get(database);
  if (counts === undefined) shared.set(database, (counts = new DeferredRunCounts(database)));
  return counts;
}
