import type { AttemptFailure, Digest, ExecutionHandle, ExecutionStatus, ItemSpec, JsonObject, RunSpecV1 } from '@cairn/core';
import { forEachFragment } from '../state/for-each-fragment.ts';
import { checkFragment, type CheckedFragment } from '../state/run-fragment.ts';
import { outputWanted } from './emitter-output.ts';
import { FragmentJoins } from './fragment-joins.ts';
import { isCairnError } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { AttemptRecord, AttemptStore } from '../store/sqlite/attempt-store.ts';
import { attemptOutcome } from './attempt-outcome.ts';
import type { DispatchContext } from './dispatch-context.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import { failureWithRefusals } from './gateway-refusals.ts';
import { engineFailure, failureSummary } from './engine-failure.ts';
import type { LockTable } from '../store/sqlite/lock-table.ts';
import type { PreparedDispatch } from './prepared-dispatch.ts';
import type { PureResults } from '../store/sqlite/pure-results.ts';
import type { PushedExit, PushedExits } from './pushed-exits.ts';
import { egressOf } from './egress-entry.ts';
import { environmentOf } from './environment-entry.ts';
import { limitsHitOf } from './limits-hit-entry.ts';
import { dispatchWaitsOf, storageWaitsOf } from './storage-waits-entry.ts';
import { readResult, type ResultRead } from './read-result.ts';
import { retryDecision } from './retry-decision.ts';
import { retryDelay } from '../retry-delay.ts';
import { CandidateRounds, type CandidateEnd } from './candidate-rounds.ts';
import type { CandidateItemSpec } from './candidate-drafts.ts';
import { judgeStdoutWanted } from './candidate-judge.ts';

/**
 * Writes what happens to attempts — dispatched, started, failed to start, asked to stop, ended —
 * each with its audit entry, in the caller's transaction unless said otherwise. An ended attempt
 * is recorded as `attemptOutcome` decides, and its item finished or retried as `retryDecision`
 * does.
 */
export class AttemptRecorder {
  readonly #settings: DispatcherSettings;
  readonly #runs: RunStore;
  readonly #attempts: AttemptStore;
  readonly #locks: LockTable;
  readonly #pure: PureResults;
  readonly #now: () => number;
  readonly #exits: PushedExits;
  /** Planners whose large fragments join their runs step by step. */
  readonly joins: FragmentJoins;
  /** Rounds of candidates (best of N, ADR 0053): their attempts' ends decide their items. */
  readonly #rounds: CandidateRounds;
  /** Records one completion in a transaction of its own (reconcile's, one attempt at a time). */
  readonly #recordInTransaction: (attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead) => void;

  constructor(context: DispatchContext, exits: PushedExits) {
    const { settings, runs, attempts, locks, pure, now } = context;
    this.#settings = settings;
    this.#runs = runs;
    this.#attempts = attempts;
    this.#locks = locks;
    this.#pure = pure;
    this.#now = now;
    this.#exits = exits;
    this.#rounds = new CandidateRounds(context);
    this.joins = new FragmentJoins(
      context,
      (attempt, read) => {
        const emission = this.#emission(attempt, read);
        return emission !== undefined && 'fragment' in emission ? emission.fragment : undefined;
      },
      (attempt, status, read, joined) => this.recordCompletion(attempt, status, read, { joinOver: true, ...(joined ? { joined } : {}) }),
    );
    this.#recordInTransaction = settings.workingCopy.transaction((attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead) =>
      this.recordCompletion(attempt, status, read),
    );
  }

  /**
   * Records one dispatch inside the pass's transaction: false, with nothing written, when another
   * pass or a cancel moved the item first or its locks were taken. Both are checked before
   * anything is written, so no savepoint is needed (one per dispatch cost more than the dispatch);
   * any other failure aborts the pass's transaction.
   */
  recordDispatch(dispatch: PreparedDispatch): boolean {
    const { runId, itemId, attempt, executionId, manifestDigest } = dispatch;
    if (!dispatch.locks.every((lock) => this.#locks.available(lock))) return false;
    if (dispatch.candidate !== undefined && dispatch.candidate.index > 1) {
      // A round is recorded whole (ADR 0053): its first candidate, recorded just before in this
      // transaction, started the item; without it the rest of the round is not recorded either.
      const first = this.#attempts.byExecutionId(`${runId}/${itemId}/${attempt - dispatch.candidate.index + 1}`);
      if (first?.state !== 'dispatching') return false;
    } else if (!this.#settings.machine.startItemIfStartable(runId, itemId)) return false;
    // Available a moment ago, in this same transaction: taken now.
    if (!this.#locks.acquireAll(runId, itemId, dispatch.locks)) throw new Error(`the locks of ${executionId} were available and are not`);
    const now = this.#now();
    this.#attempts.insert({
      runId,
      itemId,
      attempt,
      fencingToken: attempt,
      executionId,
      executor: dispatch.executorName,
      manifestDigest,
      dispatchedAt: isoTime(now),
      // Not isoTime: on this path, once a dispatch, it would push now out of its memory.
      deadline: new Date(now + dispatch.timeoutMs + (this.#settings.timeoutGraceMs ?? 0)).toISOString(),
      queue: dispatch.queue,
      inputDigest: dispatch.inputDigest,
      lockWait: dispatch.lockWait,
    });
    // The wait is the attempt's now; a later retry's wait is its own.
    if (dispatch.lockWait !== null) this.#runs.endLockWait(runId, itemId);
    // Secrets are audited by name and version, never by value.
    this.#auditAttempt('attempt.dispatched', dispatch, 'success', {
      attempt: dispatch.attempt,
      itemId: dispatch.itemId,
      manifestDigest,
      ...(dispatch.secretVersions ? { secrets: dispatch.secretVersions } : {}),
      ...dispatchWaitsOf(dispatch),
    });
    return true;
  }

  /**
   * Records a started attempt's handle. `rowWritten: false`: the attempt's end is recorded in the
   * same transaction, and writes its row (state and handle) then.
   */
  recordStart(dispatch: PreparedDispatch, handle: ExecutionHandle, { rowWritten = true } = {}): void {
    if (rowWritten) this.#attempts.started(dispatch.executionId, handle);
    this.#auditAttempt('attempt.started', dispatch, 'success', { attempt: dispatch.attempt, itemId: dispatch.itemId });
    if (dispatch.executor.capabilities.pushesCompletions) this.#exits.awaitExit(dispatch.executionId);
    if (dispatch.readyAt !== null) {
      this.#settings.observer?.attemptStarted?.({
        runId: dispatch.runId,
        itemId: dispatch.itemId,
        executor: dispatch.executorName,
        queue: dispatch.queue,
        waitMs: this.#now() - Date.parse(dispatch.readyAt),
      });
    }
  }

  /** Records a start the executor refused (or that could not be tried): the attempt and its item fail. */
  recordStartFailure(
    dispatch: {
      readonly runId: string;
      readonly itemId: string;
      readonly attempt: number;
      readonly executionId: string;
      readonly candidate?: unknown;
      readonly itemHasCandidates?: boolean;
    },
    error: unknown,
  ): void {
    const { runId, itemId, executionId } = dispatch;
    const reason = isCairnError(error) ? `${error.code}: ${error.message}` : String(error);
    const failure = isCairnError(error)
      ? engineFailure(error.code, error.message)
      : engineFailure('CAIRN_EXECUTOR_START_FAILED', `The executor could not start the task: ${String(error)}`);
    this.#attempts.finished(executionId, 'failed', null, null, isoTime(this.#now()), failure);
    this.#runs.setFailure(runId, itemId, failure);
    this.#locks.releaseAll(runId, itemId);
    this.#auditAttempt('attempt.completed', dispatch, 'failure', {
      artifacts: {},
      attempt: dispatch.attempt,
      failure: failureSummary(failure),
      itemId,
      outcome: 'failed',
      reason,
    });
    // A candidate's round decides its item (a fresh dispatch says so; a recovered attempt's row does).
    const candidate = { ...dispatch, itemHasCandidates: dispatch.candidate !== undefined || dispatch.itemHasCandidates === true };
    if (this.#candidateEnded(candidate, { outcome: 'failed', artifacts: null, failure }, undefined)) return;
    this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { failure: failureSummary(failure) });
  }

  /**
   * The end of an attempt of an item with candidates goes to its round (ADR 0053), which decides
   * the item when it was the round's last: true. False for any other attempt: its item is decided
   * as any item's is. Only an attempt whose item's row may declare candidates has its spec read.
   */
  #candidateEnded(
    attempt: { readonly runId: string; readonly itemId: string; readonly attempt: number; readonly executionId: string; readonly itemHasCandidates: boolean },
    end: CandidateEnd,
    read: ResultRead,
  ): boolean {
    if (!attempt.itemHasCandidates) return false;
    const stored = this.#runs.itemSpec(attempt.runId, attempt.itemId);
    const spec = stored === undefined ? undefined : (JSON.parse(stored.spec) as ItemSpec);
    if (spec?.candidates === undefined || spec.select === undefined) return false;
    this.#rounds.ended(attempt, spec as CandidateItemSpec, end, read);
    return true;
  }

  /** Records an attempt that ended, with what its worker reported, in a transaction of its own. */
  async recordEnd(attempt: AttemptRecord, status: ExecutionStatus): Promise<void> {
    const [read] = await Promise.all([
      readResult(
        this.#settings.storage,
        attempt,
        outputWanted(this.#runs, attempt.runId, attempt.itemId),
        judgeStdoutWanted(this.#runs, attempt.runId, attempt.itemId, attempt.attempt),
        status.result,
      ),
      // Its model calls' entries, waiting for their bodies' flush, come before its end (ADR 0059).
      this.#settings.pendingModelCalls?.settled([attempt.executionId]),
    ]);
    this.#recordInTransaction(attempt, status, read);
  }

  /**
   * Records the ends of a batch of pushed exits, with what their workers reported, in one
   * transaction: on any failure nothing of it is written (`PushedExits` keeps them for a retry).
   */
  async recordEnds(exits: readonly PushedExit[]): Promise<void> {
    const [reads] = await Promise.all([
      Promise.all(
        exits.map(({ attempt, status }) =>
          readResult(
            this.#settings.storage,
            attempt,
            outputWanted(this.#runs, attempt.runId, attempt.itemId),
            judgeStdoutWanted(this.#runs, attempt.runId, attempt.itemId, attempt.attempt),
            status.result,
          ),
        ),
      ),
      // Their model calls' entries, waiting for their bodies' flush, come before their ends (ADR 0059).
      this.#settings.pendingModelCalls?.settled(exits.map(({ attempt }) => attempt.executionId)),
    ]);
    // No savepoint per exit: one that fails aborts the whole batch anyway.
    this.#settings.workingCopy.transaction(() => {
      exits.forEach(({ attempt, status }, index) => this.recordCompletion(attempt, status, reads[index]));
    })();
  }

  /**
   * Records an ended attempt; callers run it in a transaction or savepoint of its own. `current`:
   * the caller read `attempt` in this same transaction, live (it is not read again); `handle`: its
   * start was recorded in this transaction too, and left the row (state, handle) to this write.
   * A planner's large fragment joins step by step (`FragmentJoins`): its success is recorded
   * with `joinOver` once the join is over, and `joined`, the fragment, if it joined.
   */
  recordCompletion(
    attempt: AttemptRecord,
    status: ExecutionStatus,
    read: ResultRead,
    {
      current = false,
      handle,
      joinOver = false,
      joined,
    }: { readonly current?: boolean; readonly handle?: ExecutionHandle; readonly joinOver?: boolean; readonly joined?: CheckedFragment } = {},
  ): void {
    // A pushed exit and the reconcile loop may both get here: the first one records it.
    if (!current && this.#attempts.byExecutionId(attempt.executionId)?.state !== 'running') return;
    if (!joinOver && this.joins.joining(attempt.executionId)) return;
    let ended = attemptOutcome({ status, read, stopReason: attempt.stopReason, deadline: attempt.deadline });
    if (!joinOver && ended.outcome === 'succeeded' && this.joins.wants(attempt, read)) {
      // Running until its fragment has joined; a start recorded with this end writes its row now.
      if (handle !== undefined) this.#attempts.started(attempt.executionId, handle);
      this.joins.defer(attempt, status, read);
      return;
    }
    // A planner's success adds its fragment; a fragment that is not valid fails it instead.
    const emission = ended.outcome !== 'succeeded' ? undefined : joined !== undefined ? { fragment: joined } : this.#emission(attempt, read);
    if (emission !== undefined && 'failure' in emission) ended = { ...ended, outcome: 'failed', failure: emission.failure };
    // What the gateway refused the attempt comes first: its runtime may have ended saying something else.
    const refusals = this.#settings.refusals?.take(attempt.executionId);
    if (ended.outcome !== 'succeeded') ended = { ...ended, failure: failureWithRefusals(ended.failure, refusals) };
    const { outcome, exitCode, artifacts, failure, rejected, lostCause } = ended;
    if (rejected !== undefined) {
      this.#auditAttempt('attempt.result-rejected', attempt, 'denied', { attempt: attempt.attempt, itemId: attempt.itemId, reason: rejected });
    }
    this.#attempts.finished(attempt.executionId, outcome, exitCode, artifacts, isoTime(this.#now()), failure, handle);
    // A first attempt that succeeds has no earlier failure to clear: no write on the common path.
    if (failure !== null || attempt.attempt > 1) this.#runs.setFailure(attempt.runId, attempt.itemId, failure);
    this.#exits.ended(attempt.executionId);
    this.#locks.releaseAll(attempt.runId, attempt.itemId);
    this.#auditAttempt(outcome === 'lost' ? 'attempt.lost' : 'attempt.completed', attempt, outcome === 'succeeded' ? 'success' : 'failure', {
      artifacts: artifacts ?? {},
      attempt: attempt.attempt,
      ...(lostCause ? { cause: lostCause } : {}),
      ...egressOf(read),
      ...environmentOf(read),
      exitCode,
      ...(failure ? { failure: failureSummary(failure) } : {}),
      itemId: attempt.itemId,
      ...limitsHitOf(read),
      outcome,
      ...storageWaitsOf(read),
    });
    this.#settings.observer?.attemptEnded?.({
      runId: attempt.runId,
      itemId: attempt.itemId,
      executor: attempt.executor,
      outcome,
      durationMs: this.#now() - Date.parse(attempt.dispatchedAt),
      ...(read !== undefined && !('rejected' in read) && read.environment
        ? { environment: { built: read.environment.built, setupMs: read.environment.setupMs } }
        : {}),
    });
    if (this.#candidateEnded(attempt, ended, read)) return;
    if (ended.outcome === 'succeeded') {
      if (attempt.inputDigest !== null) this.#pure.record(attempt, artifacts ?? {}, exitCode, isoTime(this.#now()));
      if (joined !== undefined) this.#settings.machine.fragmentJoined(attempt.runId, attempt.itemId, attempt.attempt, joined);
      else if (emission !== undefined && 'fragment' in emission)
        this.#settings.machine.extendRun(attempt.runId, attempt.itemId, attempt.attempt, emission.fragment);
      // A success's artifacts are written with its state, in one statement.
      // Dependents it made ready are told, and expanded after it when they map over its output:
      // a fan-out's items, which nothing depends on, look nothing up for it.
      const released: string[] = [];
      this.#settings.machine.finishItem(attempt.runId, attempt.itemId, 'succeeded', engineActor, {}, artifacts ?? {}, (itemId) => released.push(itemId));
      for (const itemId of released) this.#expandMap(attempt, read, itemId);
    } else if (ended.outcome === 'cancelled') this.#settings.machine.finishItem(attempt.runId, attempt.itemId, 'cancelled');
    else this.#failOrRetry(attempt, ended.outcome, ended.failure);
  }

  /**
   * The fragment of a planner whose attempt succeeded, checked against its run now (in the
   * transaction that records the success), or the failure it ends with instead; undefined for an
   * item that emits nothing. Only an item that may be a planner (`itemMayEmit`, read with the
   * attempt) has its spec read: any other success reads nothing for it.
   */
  #emission(attempt: AttemptRecord, read: ResultRead): { readonly fragment: CheckedFragment } | { readonly failure: AttemptFailure } | undefined {
    if (!attempt.itemMayEmit) return undefined;
    const stored = this.#runs.itemSpec(attempt.runId, attempt.itemId);
    if (stored === undefined) return undefined;
    const emitter = JSON.parse(stored.spec) as ItemSpec;
    if (emitter.emits === undefined) return undefined;
    const run = this.#settings.machine.run(attempt.runId)!;
    // A run being cancelled grows no more: its planner's success adds nothing.
    if (run.cancelRequestedBy !== null) return undefined;
    const runSpec = JSON.parse(this.#runs.spec(attempt.runId)!) as RunSpecV1;
    const output = read !== undefined && 'output' in read ? read.output : undefined;
    const digest = read !== undefined && 'artifacts' in read ? read.artifacts['output'] : undefined;
    try {
      const fragment = checkFragment(output ?? new Uint8Array(), (digest ?? '') as Digest, {
        runId: attempt.runId,
        runSpec,
        emitterId: attempt.itemId,
        emitter,
        itemState: (itemId) => this.#runs.item(attempt.runId, itemId)?.state,
        itemCount: run.itemsTotal,
        secrets: new Set(runSpec.items.flatMap((item) => item.secrets ?? [])),
        ...(this.#settings.specContext ? { context: this.#settings.specContext() } : {}),
      });
      return { fragment };
    } catch (error) {
      if (!isCairnError(error)) throw error;
      return { failure: engineFailure(error.code, error.message) };
    }
  }

  /**
   * A dependent the success of an item made ready, expanded in this same transaction when it is
   * a `forEach` item mapping over that item's output (its one prerequisite): their instances
   * join the run (`run.extended`, naming the output and the path) and each item ends at once — it
   * runs nothing itself, and what depends on it waits for its instances. One whose list is not
   * there, or too long, fails, naming both.
   */
  #expandMap(attempt: AttemptRecord, read: ResultRead, dependent: string): void {
    const { runId, itemId } = attempt;
    const stored = this.#runs.itemSpec(runId, dependent);
    if (stored === undefined || !stored.spec.includes('"forEach":{')) return;
    const spec = JSON.parse(stored.spec) as ItemSpec;
    if (spec.forEach?.from !== itemId) return;
    const output = read !== undefined && 'output' in read ? read.output : undefined;
    const digest = read !== undefined && 'artifacts' in read ? (read.artifacts['output'] as Digest | undefined) : undefined;
    const machine = this.#settings.machine;
    machine.startItem(runId, dependent);
    try {
      machine.extendRun(runId, dependent, 0, forEachFragment(dependent, spec, output, digest), { path: spec.forEach.path });
    } catch (error) {
      if (!isCairnError(error)) throw error;
      const failure = engineFailure(error.code, error.message);
      this.#runs.setFailure(runId, dependent, failure);
      machine.finishItem(runId, dependent, 'failed', engineActor, { failure: failureSummary(failure) });
      return;
    }
    machine.finishItem(runId, dependent, 'succeeded', engineActor, {}, {});
  }

  /** Records, in the caller's transaction, the start of an attempt recovery started again. */
  recordRecoveredStart(attempt: AttemptRecord, handle: ExecutionHandle): void {
    this.#attempts.started(attempt.executionId, handle);
    this.#auditAttempt('attempt.started', attempt, 'success', { attempt: attempt.attempt, itemId: attempt.itemId, recovered: true });
  }

  /**
   * Records, in the caller's transaction, that the executor was asked to stop the attempt, and
   * why: `attempt` as it was before the stop was requested (whose own stop reason, if any, came
   * from a cancel of its item).
   */
  recordStopSent(attempt: AttemptRecord, stopReason: 'timeout' | 'cancel'): void {
    this.#attempts.markStopSent(attempt.executionId);
    this.#auditAttempt('attempt.cancelled', attempt, 'success', {
      attempt: attempt.attempt,
      itemId: attempt.itemId,
      reason:
        stopReason === 'timeout'
          ? `no result by its deadline ${attempt.deadline}`
          : attempt.stopReason === 'cancel'
            ? 'the item is being cancelled'
            : 'its run is being cancelled',
    });
  }

  /**
   * Audits something that happened to an attempt, by the engine, in the caller's transaction.
   * `data` names the attempt (its number and item) and is written by each caller with its members
   * in code-unit order, as canonical JSON writes them: the entry's text is then written as it
   * stands, without a sorted copy of its data or a spread to add the attempt's fields (both cost the
   * fan-out's hot path).
   */
  #auditAttempt(
    action: 'attempt.dispatched' | 'attempt.started' | 'attempt.completed' | 'attempt.lost' | 'attempt.cancelled' | 'attempt.result-rejected',
    attempt: { readonly runId: string; readonly executionId: string },
    outcome: 'success' | 'failure' | 'denied',
    data: AttemptEntryData,
  ): void {
    this.#settings.audit.append({ actor: engineActor, action, entity: { kind: 'attempt', id: attempt.executionId }, outcome, runId: attempt.runId, data });
  }

  /**
   * A merge with `onConflict: rerun` whose patch from a producer conflicted: the producer runs
   * again on what the merge had merged before it, and the merge waits for it (see
   * `rerunForMerge`). False, leaving the failure to stand, when the policy is `fail`, the run is
   * being cancelled, or the producer was re-run already (built on what was merged before it, its
   * patch merges there; a conflict again means something else changed) or cannot be (see `rerunSpec`).
   */
  #rerunConflicting(attempt: AttemptRecord, spec: ItemSpec, failure: AttemptFailure): boolean {
    const conflict = failure.mergeConflict;
    if (spec.runtime.kind !== 'merge' || spec.runtime.onConflict !== 'rerun' || conflict === undefined) return false;
    const { runId, itemId } = attempt;
    if (this.#settings.machine.run(runId)?.cancelRequestedBy !== null) return false;
    const rerunId = `${itemId}/${conflict.from}`;
    if (this.#runs.item(runId, rerunId) !== undefined) return false;
    const producer = this.#runs.itemSpec(runId, conflict.from);
    if (producer === undefined) return false;
    // What the merge merged before the producer, each as it merged it: a producer's re-run in its place.
    const merged = conflict.merged.map((from) => (this.#runs.item(runId, `${itemId}/${from}`) === undefined ? from : `${itemId}/${from}`));
    const rerun = rerunSpec(JSON.parse(producer.spec) as ItemSpec, rerunId, merged);
    if (rerun === undefined) return false;
    this.#settings.machine.rerunForMerge(runId, itemId, attempt.attempt, rerun, { producer: conflict.from, merged });
    return true;
  }

  // Fails the item or retries it, as `retryDecision` says.
  #failOrRetry(attempt: AttemptRecord, outcome: 'failed' | 'timed-out' | 'lost', failure: AttemptFailure): void {
    const { runId, itemId } = attempt;
    const spec = JSON.parse(this.#runs.itemSpec(runId, itemId)!.spec) as ItemSpec;
    if (outcome === 'failed' && this.#rerunConflicting(attempt, spec, failure)) return;
    const decision = retryDecision({
      outcome,
      attempt: attempt.attempt,
      spec,
      runCancelling: Boolean(this.#settings.machine.run(runId)?.cancelRequestedBy),
      lostBefore: this.#attempts.lostBefore(runId, itemId, attempt.attempt),
    });
    if (decision.next === 'fail') {
      const data = decision.reason === undefined ? {} : { reason: decision.reason };
      this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { ...data, failure: failureSummary(failure) });
    } else if (decision.next === 'rerun') {
      this.#settings.machine.retryItem(runId, itemId, this.#now(), {
        attempt: attempt.attempt,
        outcome,
        onLost: 'retry',
        lostRerunsLeft: decision.lostRerunsLeft,
      });
    } else {
      const delay = retryDelay(decision.failures, spec.retry?.backoff, this.#settings.random);
      this.#settings.machine.retryItem(runId, itemId, this.#now() + delay, { attempt: attempt.attempt, outcome, attemptsLeft: decision.attemptsLeft });
    }
  }
}

/**
 * The spec of a producer's re-run for a merge (`<merge>/<producer>`): the producer's own, applying
 * first the patches of `merged` (what the merge merged before it, in order) as inputs
 * `merged-1`, `merged-2`, ...; undefined for a producer that cannot run again so (a merge, a
 * `forEach` item, a planner, one that applies patches of its own: the spec check refuses them at
 * submit, this is for a fragment whose producers were items of the run).
 */
function rerunSpec(producer: ItemSpec, id: string, merged: readonly string[]): ItemSpec | undefined {
  if (producer.runtime.kind === 'merge' || producer.forEach !== undefined || producer.emits !== undefined || (producer.apply ?? []).length > 0)
    return undefined;
  const bases = merged.map((from, index) => [`merged-${index + 1}`, { from, select: 'patch' as const }] as const);
  if (bases.some(([name]) => Object.hasOwn(producer.needs ?? {}, name))) return undefined;
  return {
    ...producer,
    id,
    ...(bases.length === 0 ? {} : { needs: { ...producer.needs, ...Object.fromEntries(bases) }, apply: bases.map(([name]) => name) }),
  };
}

/** An attempt's audit data: its number and item, and what the entry adds (`#auditAttempt`). */
type AttemptEntryData = JsonObject & { readonly attempt: number; readonly itemId: string };
