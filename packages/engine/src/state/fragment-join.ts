import type { RunSpecV1 } from '@cairn/core';
import { canonicalJson, needsApproval, priorityLevels } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { NewItem } from '../store/sqlite/new-item-insert.ts';
import type { CheckedFragment } from './run-fragment.ts';
import type { RunLifecycle } from './run-lifecycle.ts';
import { withDefaults } from './run-submission.ts';

/**
 * Items (or edges, or releases) one step of a large fragment's join writes: a step is one
 * transaction, and the engine's loop goes round through the event loop between steps, so a
 * server in the same process answers its clients while 100,000 items join (one transaction for
 * them all held its event loop for seconds).
 */
export const fragmentJoinStepSize = 1_000;

/** Where a fragment joining its run step by step has got to (`FragmentJoin.step`). */
export interface FragmentJoinProgress {
  readonly runId: string;
  readonly emitterId: string;
  readonly fragment: CheckedFragment;
  /** Steps taken so far (written). */
  steps: number;
}

/**
 * A planner's fragment joining its run a bounded step at a time, each step a transaction of its
 * own, while the planner's attempt waits, running, for its success to be recorded with the last
 * (ADR 0034, "large fragments"). The steps: its items inserted, all `blocked` (none can start
 * before the whole fragment and its edges are there); its edges; the joins (the emitter's
 * dependents wait for the fragment's sinks); then its roots released, `ready` or awaiting
 * approval, with their audit entries. A run being cancelled grows no more: the step that finds
 * its cancel adds nothing, and the items added so far were cancelled with the run. Each step is
 * safe to take again (after a restart the planner's exit is recorded anew, and its join starts
 * over): items and edges already there are kept, a root already released is left.
 */
export class FragmentJoin {
  readonly #lifecycle: RunLifecycle;

  constructor(lifecycle: RunLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /** Takes the next step, in a transaction of its own: `more`, `joined` after the last, or `cancelled`. */
  step(progress: FragmentJoinProgress): 'more' | 'joined' | 'cancelled' {
    const result = this.#lifecycle.inTransaction(() => this.#step(progress))();
    // Counted once written: a step whose transaction failed is taken again.
    progress.steps++;
    return result;
  }

  #step(progress: FragmentJoinProgress): 'more' | 'joined' | 'cancelled' {
    const lifecycle = this.#lifecycle;
    const { runId, emitterId, fragment } = progress;
    const run = lifecycle.requireRun(runId);
    if (run.cancelRequestedBy !== null) return 'cancelled';
    const size = fragmentJoinStepSize;
    const { waits, roots } = shapeOf(fragment);
    const itemSteps = Math.ceil(fragment.items.length / size);
    const edgeSteps = Math.ceil(fragment.edges.length / size);
    const step = progress.steps;
    if (step < itemSteps) {
      const chunk = fragment.items.slice(step * size, (step + 1) * size);
      // A step is one transaction: its items are all there (a step taken again), or none is.
      if (lifecycle.store.item(runId, chunk[0]!.id) !== undefined) return 'more';
      const runSpec = JSON.parse(lifecycle.store.spec(runId)!) as RunSpecV1;
      const rows: NewItem[] = [];
      for (const item of chunk) {
        const effective = withDefaults(runSpec, item);
        rows.push({
          runId,
          itemId: item.id,
          position: run.itemsTotal + rows.length,
          state: 'blocked',
          readyAt: null,
          waitingOn: waits.get(item.id) ?? 0,
          approvalRequired: needsApproval(item.approval),
          spec: canonicalJson(effective),
          executor: effective.executor ?? lifecycle.defaultExecutor,
          priority: effective.priority ?? priorityLevels.default,
        });
      }
      lifecycle.store.insertItems(rows);
      lifecycle.store.addItems(runId, rows.length);
    } else if (step < itemSteps + edgeSteps) {
      const from = (step - itemSteps) * size;
      lifecycle.store.insertEdges(runId, fragment.edges.slice(from, from + size));
    } else if (step === itemSteps + edgeSteps) {
      // The join: what depends on the emitter also waits for the fragment's sinks — counted once,
      // with the edges that say so (a step taken again finds them).
      const dependents = fragment.sinks.length === 0 ? [] : lifecycle.store.dependents(runId, emitterId);
      const joined = new Set(fragment.sinks.length === 0 ? [] : lifecycle.store.dependents(runId, fragment.sinks[0]!));
      const waiting = dependents.filter((dependent) => !joined.has(dependent));
      lifecycle.store.insertEdges(
        runId,
        waiting.flatMap((dependent) => fragment.sinks.map((sink) => [sink, dependent] as const)),
      );
      for (const dependent of waiting) lifecycle.store.addWaits(runId, dependent, fragment.sinks.length);
    } else {
      const from = (step - itemSteps - edgeSteps - 1) * size;
      const now = lifecycle.now();
      const chunk = roots.slice(from, from + size);
      // Released already (a step taken again), or ended with its run's cancel: not moved.
      const released = lifecycle.store.releaseRoots(runId, chunk, isoTime(now));
      for (const itemId of chunk) {
        if (released.has(itemId)) {
          lifecycle.audited({ runId, itemId }, 'ready', engineActor, {});
          continue;
        }
        const item = lifecycle.store.item(runId, itemId);
        if (item?.state === 'blocked' && item.waitingOn === 0 && item.approvalRequired) lifecycle.release(item, now);
      }
      if (from + size < roots.length) return 'more';
      return 'joined';
    }
    return 'more';
  }

  /** The fragment joined: one `run.extended` entry names the emitter, its attempt and the fragment's digest. */
  joined(runId: string, emitterId: string, attempt: number, fragment: CheckedFragment): void {
    this.#lifecycle.runExtended(runId, { attempt, emitter: emitterId, fragment: fragment.digest, items: fragment.items.length });
  }
}

const shapes = new WeakMap<CheckedFragment, { readonly waits: ReadonlyMap<string, number>; readonly roots: readonly string[] }>();

/** How many prerequisites of its own fragment each item waits for, and those that wait for none: worked out once a fragment. */
function shapeOf(fragment: CheckedFragment) {
  let shape = shapes.get(fragment);
  if (shape === undefined) {
    const waits = new Map<string, number>();
    for (const [, dependent] of fragment.edges) waits.set(dependent, (waits.get(dependent) ?? 0) + 1);
    shape = { waits, roots: fragment.items.filter((item) => !waits.has(item.id)).map((item) => item.id) };
    shapes.set(fragment, shape);
  }
  return shape;
}
