import type { ItemSpec, JsonObject, RunSpecV1 } from '@cairn/core';
import { canonicalJson, needsApproval, priorityLevels } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { NewItem } from '../store/sqlite/new-item-insert.ts';
import type { CheckedFragment } from './run-fragment.ts';
import type { RunLifecycle } from './run-lifecycle.ts';
import type { ItemRecord } from '../records/run-records.ts';
import { withDefaults } from './run-submission.ts';

/**
 * A run that grows while it runs: a planner's fragment joins it (ADR 0034), and a merge whose patch
 * conflicted adds the re-run of its producer (ADR 0035). The items added are counted and released
 * as a submitted run's are. Part of `RunStateMachine`, which answers for it.
 */
export class RunGrowth {
  readonly #lifecycle: RunLifecycle;

  constructor(lifecycle: RunLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /**
   * A planner's checked fragment joins its run (ADR 0034), in the transaction that records the
   * planner's success and before it: its items are inserted with the run's defaults, those waiting
   * on nothing of the fragment ready at once; each item that depends on the emitter now also waits
   * for the fragment's sinks (a join); the run counts them; and one `run.extended` entry names the
   * emitter, its attempt and the fragment's digest.
   */
  extendRun(runId: string, emitterId: string, attempt: number, fragment: CheckedFragment, more: JsonObject = {}): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const run = lifecycle.requireRun(runId);
      const runSpec = JSON.parse(lifecycle.store.spec(runId)!) as RunSpecV1;
      const now = lifecycle.now();
      const readyAt = isoTime(now);
      const waits = new Map<string, number>();
      for (const [, dependent] of fragment.edges) waits.set(dependent, (waits.get(dependent) ?? 0) + 1);
      const rows: NewItem[] = fragment.items.map((item, index) => {
        const effective = withDefaults(runSpec, item);
        const waitingOn = waits.get(item.id) ?? 0;
        const approvalRequired = needsApproval(item.approval);
        const releasedReady = waitingOn === 0 && !approvalRequired;
        return {
          runId,
          itemId: item.id,
          position: run.itemsTotal + index,
          state: releasedReady ? 'ready' : 'blocked',
          readyAt: releasedReady ? readyAt : null,
          waitingOn,
          approvalRequired,
          spec: canonicalJson(effective),
          executor: effective.executor ?? lifecycle.defaultExecutor,
          priority: effective.priority ?? priorityLevels.default,
        };
      });
      for (let start = 0; start < rows.length; start += 1_024) lifecycle.store.insertItems(rows.slice(start, start + 1_024));
      const dependents = fragment.sinks.length === 0 ? [] : lifecycle.store.dependents(runId, emitterId);
      lifecycle.store.insertEdges(runId, [...fragment.edges, ...dependents.flatMap((dependent) => fragment.sinks.map((sink) => [sink, dependent] as const))]);
      for (const dependent of dependents) lifecycle.store.addWaits(runId, dependent, fragment.sinks.length);
      lifecycle.store.addItems(runId, rows.length);
      lifecycle.runExtended(runId, { attempt, emitter: emitterId, fragment: fragment.digest, items: rows.length, ...more });
      for (const row of rows) {
        if (row.waitingOn > 0) continue;
        const root: ItemRecord = { ...row, state: 'blocked', readyAt: null, cancelRequestedBy: null, failure: null, lockWait: null };
        if (row.approvalRequired) lifecycle.release(root, now);
        else lifecycle.audited(root, 'ready', engineActor, {});
      }
    })();
  }

  /**
   * A merge whose patch from `producer` conflicted, with `onConflict: rerun` (ADR 0035): in the
   * transaction that records its failed attempt, `rerun` (the producer's spec, made to apply what
   * was merged before it) joins the run as a ready item, and the merge, running, waits for it
   * (`item.blocked`) to merge its patch in the producer's place. One `run.extended` entry names the
   * merge, its attempt, the producer and what the re-run builds on: the whole of what was added.
   */
  rerunForMerge(
    runId: string,
    mergeId: string,
    attempt: number,
    rerun: ItemSpec,
    data: { readonly producer: string; readonly merged: readonly string[] },
  ): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const run = lifecycle.requireRun(runId);
      const merge = lifecycle.requireItem(runId, mergeId);
      const readyAt = isoTime(lifecycle.now());
      const row: NewItem = {
        runId,
        itemId: rerun.id,
        position: run.itemsTotal,
        state: 'ready',
        readyAt,
        waitingOn: 0,
        approvalRequired: false,
        spec: canonicalJson(rerun),
        executor: rerun.executor ?? lifecycle.defaultExecutor,
        // The producer's effective spec, its priority with it.
        priority: rerun.priority ?? priorityLevels.default,
      };
      lifecycle.store.insertItems([row]);
      lifecycle.store.insertEdges(runId, [[rerun.id, mergeId]]);
      lifecycle.store.addWaits(runId, mergeId, 1);
      lifecycle.store.addItems(runId, 1);
      lifecycle.runExtended(runId, { attempt, emitter: mergeId, items: 1, rerun: { item: rerun.id, merged: [...data.merged], producer: data.producer } });
      lifecycle.move(merge, 'blocked', engineActor, { because: rerun.id });
      lifecycle.audited({ runId, itemId: rerun.id }, 'ready', engineActor, {});
    })();
  }
}
