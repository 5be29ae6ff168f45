import type { ExecutionStatus } from '@cairn/core';
import { nothingToWaitFor } from '../store/group-commit.ts';
import { AttemptRecorder } from './attempt-recorder.ts';
import type { DispatchContext } from './dispatch-context.ts';
import { DispatchPasses, type DispatchPass, type DispatchPassOptions } from './dispatch-passes.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import { ManifestDrafter } from './manifest-drafter.ts';
import { PushedExits } from './pushed-exits.ts';
import { Reconciler } from './reconciler.ts';

export type { DispatcherSettings } from './dispatcher-settings.ts';

/**
 * Moves ready items onto executors and finished tasks back into the run state. Each attempt gets
 * a signed manifest stored by digest, a fencing token and an execution id (`run/item/attempt`, the
 * executor's idempotency key); its dispatch, start and completion are each audited in the same
 * transaction as the state they change.
 *
 * Its parts: `DispatchPasses` chooses and starts ready items, with `ManifestDrafter` drafting,
 * signing and storing their manifests; `PushedExits` takes the exits executors push; `Reconciler`
 * matches the executors' view with the store's (recovery, inspection, stops); `AttemptRecorder`
 * writes what happens to each attempt, deciding how it ended with `attemptOutcome` and whether its
 * item is retried with `retryDecision`.
 */
export class Dispatcher {
  readonly #passes: DispatchPasses;
  readonly #exits: PushedExits;
  readonly #reconciler: Reconciler;
  readonly #recorder: AttemptRecorder;

  constructor(settings: DispatcherSettings) {
    const { workingCopy } = settings;
    const context: DispatchContext = {
      settings,
      now: settings.now ?? Date.now,
      commit: settings.commit ?? nothingToWaitFor,
      runs: workingCopy.runs,
      attempts: workingCopy.attempts,
      locks: workingCopy.locks,
      pure: workingCopy.pureResults,
    };
    // Each needs the other: the recorder tells the exits which it awaits and which ended, and the
    // exits have the recorder write their batches (only once the dispatcher is built).
    const exits: PushedExits = new PushedExits({
      attemptOf: (executionId) => context.attempts.byExecutionId(executionId),
      write: (batch): Promise<void> => recorder.recordEnds(batch),
    });
    const recorder: AttemptRecorder = new AttemptRecorder(context, exits);
    this.#exits = exits;
    this.#recorder = recorder;
    this.#passes = new DispatchPasses(context, { exits, drafter: new ManifestDrafter(context), recorder });
    this.#reconciler = new Reconciler(context, exits, recorder);
  }

  /**
   * Starts as many ready items (oldest first) as the concurrency limit allows; returns how many.
   * One pass at a time: a call during a pass waits for it instead of racing it.
   *
   * With `chain`, a pass whose tasks ended at once (exits pushed before their starts were
   * recorded) goes on to dispatch what those ends made ready, while `chain()` says so: a chain of
   * quick items then costs one pass, not one pass and one engine loop turn per item.
   */
  dispatchReady(options: DispatchPassOptions = {}): Promise<number> {
    return this.dispatchNext(options).then(({ started }) => started);
  }

  /**
   * The pass of `dispatchReady`, which resolves once its dispatches are recorded (ADR 0023), with
   * how many items it moved and a promise for their starts. Without `chain` the starts are handed
   * off: they wait for the commit carrying the dispatches, and the caller may choose again while
   * it is in flight (a pipelined store). With `chain` the pass waits for its starts, since it
   * chooses again from what their quick exits made ready (a store whose commits cost nothing).
   * One pass at a time: a call during a pass's recording waits for it instead of racing it.
   */
  dispatchNext(options: DispatchPassOptions = {}): Promise<DispatchPass> {
    return this.#passes.next(options);
  }

  /**
   * After a restart: attempts that were recorded as dispatched but whose start may not have
   * reached the executor are started again with the same execution id — executors start each id
   * once, so this re-attaches or starts, never duplicates. Running attempts re-attach through
   * their persisted handles on the next `reconcile`. A start the executor refuses fails the attempt
   * as a first start would (so does one whose executor is no longer configured); one whose
   * executor is unreachable waits. Returns how many still wait: call again until none do.
   */
  recover(): Promise<number> {
    return this.#reconciler.recover();
  }

  /**
   * Records an exit an executor pushed (`onExit`): the attempt completes at once, without waiting
   * for the reconcile loop. Exits of unknown or already finished attempts are ignored (a push may
   * repeat what `inspect` already found).
   */
  exited(executionId: string, status: ExecutionStatus): Promise<boolean> {
    return this.#exits.pushed(executionId, status);
  }

  /**
   * Takes one step of the planners' large fragments joining their runs (`FragmentJoins`); returns
   * how many (the engine's loop calls it every turn, and goes round again while there are any).
   */
  joinFragments(): number {
    return this.#recorder.joins.takeStep();
  }

  /**
   * Records the pushed exits an earlier batch failed to write (the engine's loop calls it every
   * turn; it costs nothing while there are none). Throws, keeping them queued, when they still
   * cannot be written. Returns how many were written.
   */
  recordUnrecordedExits(): Promise<number> {
    return this.#exits.recordUnrecorded();
  }

  /** Pushed exits not yet written (a full disk holds them back). */
  get unrecordedExits(): number {
    return this.#exits.unrecorded;
  }

  /**
   * Inspects every live attempt and records those that ended; returns how many ended. Attempts
   * past their deadline, and those of runs or items being cancelled, are first stopped through
   * their executor (once) and end `timed-out` or `cancelled`. With `skipPushing`, attempts this
   * process started on executors that push their exits are only stopped when due, not inspected:
   * their exits arrive on their own.
   */
  reconcile(options: { readonly skipPushing?: boolean } = {}): Promise<number> {
    return this.#reconciler.reconcile(options);
  }

  /**
   * Asks executors to stop the attempts that are due to stop (a cancel, a deadline) now, without
   * inspecting anything. Returns how many due ones could not be asked yet: their start is still on
   * its way (a handed-off start waiting for its commit), so there is no handle to stop; call again
   * once it is recorded.
   */
  stopDue(): Promise<number> {
    return this.#reconciler.stopDue();
  }
}
