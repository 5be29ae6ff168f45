import type { ExecutionHandle, ExecutionStatus, ExecutorV1, ItemSpec, TaskEnvelope, TaskGateway } from '@cairn/core';
import { isCairnError, manifestKey } from '@cairn/protocol';
import { storageFullReason } from '../store/storage-full.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { AttemptRecorder } from './attempt-recorder.ts';
import type { AttemptRecord, AttemptStore } from '../store/sqlite/attempt-store.ts';
import type { DispatchContext } from './dispatch-context.ts';
import { isDispatchRefusal } from '../dispatch-refusal.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import type { PushedExits } from './pushed-exits.ts';
import { revealItemSecrets } from './reveal-item-secrets.ts';

/** How recovery sees an attempt whose dispatch manifest is not in storage: as a task no executor knows. */
const manifestLost: ExecutionStatus = {
  state: 'unknown',
  reason: 'its dispatch manifest is not in storage: it was put without a flush of its own, and the machine lost power before writing it (ADR 0024)',
};

/** A recovered attempt with no deadline: its credential lasts as long as the default item timeout. */
const defaultGatewayTimeoutMs = 3_600_000;

/**
 * Matches the executors' view of the live attempts with the store's: at start, and after a failed
 * turn, attempts left dispatching are started again (`recover`); then, every turn, live attempts
 * are inspected for ends no push brought (`reconcile`), and those overdue or cancelled are asked
 * to stop (`stopDue`).
 */
export class Reconciler {
  readonly #settings: DispatcherSettings;
  readonly #runs: RunStore;
  readonly #attempts: AttemptStore;
  readonly #now: () => number;
  readonly #commit: GroupCommit;
  readonly #exits: PushedExits;
  readonly #recorder: AttemptRecorder;

  constructor({ settings, runs, attempts, now, commit }: DispatchContext, exits: PushedExits, recorder: AttemptRecorder) {
    this.#settings = settings;
    this.#runs = runs;
    this.#attempts = attempts;
    this.#now = now;
    this.#commit = commit;
    this.#exits = exits;
    this.#recorder = recorder;
  }

  /** Starts again the attempts left dispatching (`Dispatcher.recover`); returns how many still wait. */
  async recover(): Promise<number> {
    let waiting = 0;
    await this.#commit();
    for (const attempt of this.#attempts.live()) {
      if (attempt.state !== 'dispatching') continue;
      const executor = this.#settings.executors[attempt.executor];
      // A manifest is put without a flush of its own (ADR 0024): after a power cut the dispatch
      // naming it may be durable and the manifest gone. No task can run from it, and any that ran
      // did so on the machine that lost power: the attempt is lost, and its item runs again with a
      // new manifest (or fails, if its lost attempts may have had effects). Storage that cannot
      // answer now is asked again on the next turn.
      const manifest = await this.#settings.storage.head(manifestKey(attempt.manifestDigest)).catch(() => 'unanswered' as const);
      if (manifest === 'unanswered') {
        waiting++;
        continue;
      }
      if (manifest === null) {
        this.#settings.workingCopy.transaction(() => this.#recorder.recordCompletion(attempt, manifestLost, undefined, { current: true }))();
        continue;
      }
      let handle: ExecutionHandle;
      try {
        if (!executor) throw new Error(`no executor named ${JSON.stringify(attempt.executor)} is configured any more`);
        const spec = JSON.parse(this.#runs.itemSpec(attempt.runId, attempt.itemId)!.spec) as ItemSpec;
        // A secret removed since the dispatch: the task starts without it and fails for want of it.
        const secrets = await revealItemSecrets(this.#settings.secrets, spec);
        const task: TaskEnvelope = {
          executionId: attempt.executionId,
          manifestDigest: attempt.manifestDigest as TaskEnvelope['manifestDigest'],
          ...(secrets && !isDispatchRefusal(secrets) ? { secrets: secrets.values } : {}),
          ...this.#gateway(attempt, spec),
          ...(spec.runsOn === undefined ? {} : { labels: spec.runsOn.labels }),
        };
        const traceContext = this.#settings.attemptTraceContext?.(attempt);
        handle = await executor.start(traceContext ? { ...task, traceContext } : task);
      } catch (error) {
        if (isCairnError(error, 'CAIRN_EXECUTOR_UNAVAILABLE') || storageFullReason(error) !== undefined) {
          waiting++;
          continue;
        }
        this.#settings.workingCopy.transaction(() => this.#recorder.recordStartFailure(attempt, error))();
        continue;
      }
      this.#settings.workingCopy.transaction(() => this.#recorder.recordRecoveredStart(attempt, handle))();
      // Its exit may have been pushed already (this process started it, and failed to record the
      // start — a full disk): reconcile inspects it rather than waiting for a push that came.
      this.#exits.forget(attempt.executionId);
    }
    return waiting;
  }

  /** Inspects the live attempts and records those that ended (`Dispatcher.reconcile`); returns how many. */
  async reconcile(options: { readonly skipPushing?: boolean } = {}): Promise<number> {
    let ended = 0;
    for (const live of this.#attempts.live()) {
      if (live.state !== 'running' || live.handle === null) continue;
      const executor = this.#settings.executors[live.executor];
      if (!executor) continue;
      const attempt = await this.#stopIfDue(live, executor);
      if (options.skipPushing && this.#exits.isAwaited(live.executionId)) continue;
      let status: ExecutionStatus;
      try {
        status = await executor.inspect(live.handle);
      } catch (error) {
        if (isCairnError(error, 'CAIRN_EXECUTOR_UNAVAILABLE')) continue;
        throw error;
      }
      if (status.state === 'exited' || status.state === 'unknown') {
        await this.#recorder.recordEnd(attempt, status);
        ended++;
      }
    }
    return ended;
  }

  /** Asks executors to stop the attempts due to stop (`Dispatcher.stopDue`); returns how many could not be asked yet. */
  async stopDue(): Promise<number> {
    let notYetStarted = 0;
    for (const live of this.#attempts.live()) {
      const executor = this.#settings.executors[live.executor];
      if (live.state === 'running' && live.handle !== null && executor) await this.#stopIfDue(live, executor);
      else if (live.state === 'dispatching' && this.#stopReasonOf(live) !== null) notYetStarted++;
    }
    return notYetStarted;
  }

  // Why an attempt is due to stop: asked before (its item or run cancelled), its run being
  // cancelled, or its deadline passed; null when it is not.
  #stopReasonOf(attempt: AttemptRecord): AttemptRecord['stopReason'] {
    if (attempt.stopReason !== null) return attempt.stopReason;
    if (this.#settings.machine.run(attempt.runId)?.cancelRequestedBy) return 'cancel';
    if (attempt.deadline !== null && Date.parse(attempt.deadline) <= this.#now()) return 'timeout';
    return null;
  }

  // Asks the executor to stop an attempt that is overdue or whose run or item is being cancelled, once.
  async #stopIfDue(attempt: AttemptRecord, executor: ExecutorV1): Promise<AttemptRecord> {
    const stopReason = this.#stopReasonOf(attempt);
    if (stopReason === null || attempt.stopSent) return attempt;
    this.#attempts.requestStop(attempt.executionId, stopReason);
    await this.#commit();
    await executor.cancel(attempt.handle!);
    this.#settings.workingCopy.transaction(() => this.#recorder.recordStopSent(attempt, stopReason))();
    return { ...attempt, stopReason, stopSent: true };
  }

  // A restarted task gets a fresh credential: none outlives the process that issued it (ADR 0033).
  #gateway(attempt: AttemptRecord, spec: ItemSpec): { gateway?: TaskGateway } {
    const deadline = attempt.deadline === null ? undefined : Date.parse(attempt.deadline);
    const timeoutMs = deadline === undefined ? defaultGatewayTimeoutMs : Math.max(1, deadline - this.#now());
    const gateway = this.#settings.gateway?.issue({ ...attempt, spec, timeoutMs });
    return gateway === undefined ? {} : { gateway };
  }
}
