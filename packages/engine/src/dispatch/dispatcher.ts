import type {
  AttemptFailure,
  Digest,
  DispatchManifest,
  JsonObject,
  ExecutionHandle,
  ExecutionStatus,
  ExecutorV1,
  ItemSpec,
  ManifestInput,
  SignerV1,
  StorageProviderV1,
  TaskEnvelope,
} from '@cairn/core';
import { signManifests } from '@cairn/audit';
import { canonicalJsonBytes, digestOfJson, isCairnError, manifestKey, parseDuration, sha256Digest } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import { isoTime } from '../iso-time.ts';
import type { EngineDatabase } from '../database/engine-database.ts';
import type { ItemRecord } from '../state/run-records.ts';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import { engineActor } from '../engine-actor.ts';
import { RunStore } from '../state/run-store.ts';
import { AttemptStore, lockWaitOf, type AttemptRecord, type LockWait } from './attempt-store.ts';
import { declaredLocks, LockTable, type HeldLock } from './lock-table.ts';
import { chooseDispatches, type DispatchCandidate } from './choose-dispatches.ts';
import { retryDelay } from './retry-delay.ts';
import { retryDecision } from './retry-decision.ts';
import { attemptOutcome } from './attempt-outcome.ts';
import { engineFailure, failureSummary } from './engine-failure.ts';
import { readResult, type ResultRead } from './read-result.ts';
import { PushedExits, type PushedExit } from './pushed-exits.ts';
import { storageFullReason } from '../database/storage-full.ts';
import { PureResults } from './pure-results.ts';
import type { RevealedSecrets, SecretStore } from '../secrets/secret-store.ts';
import { dispatchRefusal, isDispatchRefusal, type DispatchRefusal } from './dispatch-refusal.ts';
import type { EngineObserver } from '../engine-observer.ts';
import { committedByTransactions, type GroupCommit } from '../store/group-commit.ts';

export interface DispatcherSettings {
  readonly database: EngineDatabase;
  readonly audit: AuditLog;
  readonly machine: RunStateMachine;
  /** Executors by the name items use (`executor:` in the spec). */
  readonly executors: Readonly<Record<string, ExecutorV1>>;
  /** Where manifests are stored (by digest) and workers write results. */
  readonly storage: StorageProviderV1;
  /** Signs dispatch manifests. */
  readonly signer: SignerV1;
  /** Attempts live at once across all runs; default 16. */
  readonly concurrency?: number;
  /** Named queues and how many of their items may run at once (items name one with `queue:`). */
  readonly queues?: Readonly<Record<string, { readonly concurrency: number }>>;
  /** How long past an item's timeout its attempt's deadline is (the engine's `timeoutGraceMs`); default 0. */
  readonly timeoutGraceMs?: number;
  readonly now?: () => number;
  /** Source of retry jitter; `Math.random` by default (tests inject one). */
  readonly random?: () => number;
  /** Where the secrets items name are kept; without it, an item naming a secret fails. */
  readonly secrets?: SecretStore;
  /** Makes what was written durable before a task is started or stopped (ADR 0023). */
  readonly commit?: GroupCommit;
  /** Told when attempts start (dispatch latency), for metrics. */
  readonly observer?: EngineObserver;
}

const defaultTimeoutMs = 3_600_000;
/** What an empty workspace is, when a run names no snapshot. */
const emptyWorkspace = sha256Digest('');

/**
 * Moves ready items onto executors and finished tasks back into the run state. Each attempt gets
 * a signed manifest stored by digest, a fencing token and an execution id (`run/item/attempt`, the
 * executor's idempotency key); its dispatch, start and completion are each audited in the same
 * transaction as the state they change.
 */
export class Dispatcher {
  readonly #settings: DispatcherSettings;
  readonly #runs: RunStore;
  readonly #attempts: AttemptStore;
  readonly #locks: LockTable;
  readonly #pure: PureResults;
  readonly #now: () => number;
  readonly #commit: GroupCommit;
  #dispatching: Promise<DispatchPass> | undefined;
  /** Exits executors push, and where each attempt this process has a stake in stands with its own. */
  readonly #exits: PushedExits;
  /** Records one completion in a transaction of its own (reconcile's, one attempt at a time). */
  readonly #recordInTransaction: (attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead) => void;

  constructor(settings: DispatcherSettings) {
    this.#settings = settings;
    this.#runs = new RunStore(settings.database);
    this.#attempts = new AttemptStore(settings.database);
    this.#locks = new LockTable(settings.database);
    this.#pure = new PureResults(settings.database);
    this.#exits = new PushedExits((exits) => this.#recordExits(exits));
    this.#recordInTransaction = settings.database.transaction((attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead) =>
      this.#recordCompletion(attempt, status, read),
    );
    this.#now = settings.now ?? Date.now;
    this.#commit = settings.commit ?? committedByTransactions;
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
    this.#dispatching ??= this.#dispatchPass(options).finally(() => {
      this.#dispatching = undefined;
    });
    return this.#dispatching;
  }

  /**
   * After a restart: attempts that were recorded as dispatched but whose start may not have
   * reached the executor are started again with the same execution id — executors start each id
   * once, so this re-attaches or starts, never duplicates. Running attempts re-attach through
   * their persisted handles on the next `reconcile`. A start the executor refuses fails the attempt
   * as a first start would (so does one whose executor is no longer configured); one whose
   * executor is unreachable waits. Returns how many still wait: call again until none do.
   */
  async recover(): Promise<number> {
    let waiting = 0;
    await this.#commit();
    for (const attempt of this.#attempts.live()) {
      if (attempt.state !== 'dispatching') continue;
      const executor = this.#settings.executors[attempt.executor];
      let handle: ExecutionHandle;
      try {
        if (!executor) throw new Error(`no executor named ${JSON.stringify(attempt.executor)} is configured any more`);
        const spec = JSON.parse(this.#runs.itemSpec(attempt.runId, attempt.itemId)!.spec) as ItemSpec;
        // A secret removed since the dispatch: the task starts without it and fails for want of it.
        const secrets = await this.#revealSecrets(spec);
        const task: TaskEnvelope = {
          executionId: attempt.executionId,
          manifestDigest: attempt.manifestDigest as TaskEnvelope['manifestDigest'],
          ...(secrets && !isDispatchRefusal(secrets) ? { secrets: secrets.values } : {}),
        };
        handle = await executor.start(task);
      } catch (error) {
        if (isCairnError(error, 'CAIRN_EXECUTOR_UNAVAILABLE') || storageFullReason(error) !== undefined) {
          waiting++;
          continue;
        }
        this.#settings.database.transaction(() => this.#recordStartFailure(attempt, error))();
        continue;
      }
      this.#settings.database.transaction(() => {
        this.#attempts.started(attempt.executionId, handle);
        this.#auditAttempt('attempt.started', attempt, 'success', { attempt: attempt.attempt, itemId: attempt.itemId, recovered: true });
      })();
      // Its exit may have been pushed already (this process started it, and failed to record the
      // start — a full disk): reconcile inspects it rather than waiting for a push that came.
      this.#exits.forget(attempt.executionId);
    }
    return waiting;
  }

  /**
   * Records an exit an executor pushed (`onExit`): the attempt completes at once, without waiting
   * for the reconcile loop. Exits of unknown or already finished attempts are ignored (a push may
   * repeat what `inspect` already found).
   */
  async exited(executionId: string, status: ExecutionStatus): Promise<boolean> {
    if (this.#exits.keepIfStarting(executionId, status)) return false;
    const attempt = this.#attempts.byExecutionId(executionId);
    // A task the executor no longer knows (its process died without an outcome) is lost: recorded
    // as `inspect` would find it. One pushed while recovery starts its attempt is left to
    // reconcile, which inspects the attempt once its start is recorded.
    if (attempt?.state !== 'running' || (status.state !== 'exited' && status.state !== 'unknown')) return false;
    await this.#exits.record({ attempt, status });
    return true;
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

  // One transaction for the batch: on any failure nothing of it is written (`PushedExits` keeps it).
  async #recordExits(exits: readonly PushedExit[]): Promise<void> {
    const reads = await Promise.all(exits.map(({ attempt }) => this.#readResult(attempt)));
    // No savepoint per exit: one that fails aborts the whole batch anyway.
    this.#settings.database.transaction(() => {
      exits.forEach(({ attempt, status }, index) => this.#recordCompletion(attempt, status, reads[index]));
    })();
  }

  /**
   * Inspects every live attempt and records those that ended; returns how many ended. Attempts
   * past their deadline, and those of runs or items being cancelled, are first stopped through
   * their executor (once) and end `timed-out` or `cancelled`. With `skipPushing`, attempts this
   * process started on executors that push their exits are only stopped when due, not inspected:
   * their exits arrive on their own.
   */
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
        await this.#complete(attempt, status);
        ended++;
      }
    }
    return ended;
  }

  /**
   * Asks executors to stop the attempts that are due to stop (a cancel, a deadline) now, without
   * inspecting anything. Returns how many due ones could not be asked yet: their start is still on
   * its way (a handed-off start waiting for its commit), so there is no handle to stop; call again
   * once it is recorded.
   */
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
    this.#settings.database.transaction(() => {
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
    })();
    return { ...attempt, stopReason, stopSent: true };
  }

  // Oldest ready items first. An item whose locks are taken waits, and reserves those lock names:
  // no younger item takes them before it (FIFO for lock waiters, so shared holders cannot starve
  // an exclusive waiter). The pass works in batches (group commit): manifests are signed and
  // stored together, every dispatch is recorded in one transaction, the executors are started
  // together, and their handles are recorded in one more, with the exits pushed meanwhile (and,
  // when the pass chains, the choice of what those exits made ready).
  async #dispatchPass(options: DispatchPassOptions): Promise<DispatchPass> {
    // The pass's reads in one read transaction: one snapshot, and one read lock for all of them
    // rather than one per statement.
    let chosen = this.#settings.database.transaction(() => this.#choose(options.limit))();
    // Dispatches the round before recorded in its exits' transaction (see `#startRound`).
    let already: PreparedDispatch[] = [];
    let moved = 0;
    let started = 0;
    while (chosen.length > 0 || already.length > 0) {
      const round = await this.#recordRound(chosen, already);
      moved += round.recorded.length + round.reused;
      const starting = this.#startRound(round, options.chain);
      // Not chaining: the starts are handed off, and the caller goes on deciding meanwhile.
      if (!options.chain) return { moved, started: starting.then((done) => started + done.started) };
      const done = await starting;
      started += done.started;
      chosen = done.next;
      already = done.recorded;
    }
    return { moved, started: Promise.resolve(started) };
  }

  // Prepares the chosen items (signed and stored manifests) and records their dispatches, after
  // those the round before already recorded (`already`).
  async #recordRound(chosen: readonly Choice[], already: readonly PreparedDispatch[]): Promise<RecordedRound> {
    const outcomes = await Promise.all(chosen.map((choice) => this.#draft(choice)));
    const prepared = await this.#signAndStore(outcomes.filter((outcome) => typeof outcome === 'object'));
    const reused = outcomes.filter((outcome) => outcome === 'reused').length;
    // Items that ended without starting (a reused result, a refusal) may have made others ready.
    const ended = outcomes.length - prepared.length;
    const recorded =
      prepared.length === 0
        ? [...already]
        : [...already, ...this.#settings.database.transaction(() => prepared.filter((dispatch) => this.#recordDispatch(dispatch)))()];
    return { recorded, reused, ended };
  }

  // Starts a round's recorded dispatches and records their starts: returns how many started (or
  // reused a result), and, when `chain` says to go on and some of them already ended, the items
  // chosen next and those of them whose dispatch is recorded.
  async #startRound(round: RecordedRound, chain: (() => boolean) | undefined): Promise<{ started: number; next: Choice[]; recorded: PreparedDispatch[] }> {
    const { recorded, reused } = round;
    let { ended } = round;
    // A task starts only once its dispatch is durable: a writer that loses its lease starts nothing.
    if (recorded.length > 0) await this.#commit();
    for (const dispatch of recorded) this.#exits.starting(dispatch.executionId);
    const starts = await Promise.all(
      recorded.map(async (dispatch) => {
        try {
          const task: TaskEnvelope = {
            executionId: dispatch.executionId,
            manifestDigest: dispatch.manifestDigest,
            ...(dispatch.secrets ? { secrets: dispatch.secrets } : {}),
          };
          return { dispatch, handle: await dispatch.executor.start(task) };
        } catch (error) {
          return { dispatch, error };
        }
      }),
    );
    // Exits pushed before their starts were recorded (a task that ended at once), with their
    // results read now: recorded in the starts' own transaction, right after the starts. One
    // whose result cannot be read (storage down) is left to a batch of its own after it, which
    // keeps it queued until it can be written.
    const early = await Promise.all(
      starts.flatMap((start) => {
        const status = 'handle' in start ? this.#exits.takeEarly(start.dispatch.executionId) : undefined;
        if (status === undefined) return [];
        const { executionId, runId, itemId, hasDependents } = start.dispatch;
        return [
          this.#readResultOf(start.dispatch).then(
            (read): EarlyExit => ({ executionId, runId, itemId, hasDependents, status, read }),
            (): EarlyExit => ({ executionId, runId, itemId, hasDependents, status, read: 'unread' }),
          ),
        ];
      }),
    );
    // Whether the pass goes on is asked once a round in which items ended, before their transaction.
    const chaining = (ended > 0 || early.some(({ read }) => read !== 'unread')) && (chain?.() ?? false);
    // What those ends will likely make ready, prepared now (manifests signed and stored), so that
    // the transaction that records the ends can record their dispatch too when its choice takes
    // them: a chain of quick items then commits once a hop, not twice (issue 16). A guess that
    // fails (a signer or storage error) is no guess: the next round prepares them, and fails there.
    const likely =
      chaining && early.some(({ hasDependents }) => hasDependents)
        ? await this.#prepareLikelyNext(early).catch(() => new Map<string, PreparedDispatch>())
        : new Map<string, PreparedDispatch>();
    // Exits pushed while the results were read (nothing is pushed from here to the end of the
    // transaction below, which runs at once): recorded after it, through a batch.
    const late = recorded.flatMap(({ executionId }) => {
      const status = this.#exits.takeEarly(executionId);
      return status === undefined ? [] : [{ executionId, status }];
    });
    // A start refused for a full disk (the executor could not write its own state) is not the
    // item's failure: the attempt stays dispatching, and the loop, told by the error, re-starts it
    // with the same execution id once there is room.
    let storageFull: unknown;
    let next: Choice[] = [];
    const recordedNext: PreparedDispatch[] = [];
    try {
      this.#settings.database.transaction(() => {
        // An attempt whose exit is recorded just below has its row written once, by its end (with
        // its handle): a row written twice in one transaction was a share of a chain's hop.
        const endingNow = new Set(early.flatMap(({ executionId, read }) => (read === 'unread' ? [] : [executionId])));
        const handles = new Map<string, ExecutionHandle>();
        for (const start of starts) {
          if ('handle' in start) {
            handles.set(start.dispatch.executionId, start.handle);
            this.#recordStart(start.dispatch, start.handle, { rowWritten: !endingNow.has(start.dispatch.executionId) });
          } else if (storageFullReason(start.error) !== undefined) storageFull ??= start.error;
          else this.#recordStartFailure(start.dispatch, start.error);
        }
        for (const { executionId, status, read } of early) {
          const handle = handles.get(executionId);
          if (read === 'unread' || handle === undefined) continue;
          const attempt = this.#attempts.byExecutionId(executionId);
          if (attempt?.state !== 'dispatching') continue;
          this.#recordCompletion(attempt, status, read, { current: true, handle });
          ended++;
        }
        // What those ends made ready, chosen in the same transaction (one snapshot, no new read lock);
        // the dispatch of a chosen item prepared above is recorded here too, as the next round would.
        if (storageFull === undefined && ended > 0 && chaining) next = this.#choose();
        if (likely.size > 0) next = next.filter((choice) => !this.#recordLikely(choice, likely, recordedNext));
      })();
    } finally {
      // Recorded, or (the transaction failed) left dispatching for recovery to start again.
      for (const dispatch of recorded) this.#exits.startSettled(dispatch.executionId);
    }
    if (storageFull !== undefined) throw storageFull;
    // Early exits whose result could not be read, and the late ones: through a batch, as any
    // pushed exit (which keeps them if they cannot be written).
    await Promise.all([...early.filter(({ read }) => read === 'unread'), ...late].map(({ executionId, status }) => this.exited(executionId, status)));
    return { started: starts.filter((start) => 'handle' in start).length + reused, next, recorded: recordedNext };
  }

  // Prepares the dispatch of the items the early exits' successes would make ready (see
  // `RunStateMachine.readiedBySuccess`), by execution id. A guess, checked against the choice the
  // exits' transaction makes: only plain items are guessed (no inputs, whose digests the ends
  // write; no secrets; not pure, whose result may be reused instead), and an item the choice does
  // not take at the attempt guessed is prepared again by the next round as any other. A guess
  // that is wrong leaves a manifest no dispatch names, as a dispatch a cancel overtook does.
  async #prepareLikelyNext(early: readonly EarlyExit[]): Promise<Map<string, PreparedDispatch>> {
    // Its reads in one read transaction: one snapshot, one read lock.
    const choices = this.#settings.database.transaction(() =>
      early.flatMap(({ runId, itemId, hasDependents, status, read }) => {
        if (!hasDependents || status.state !== 'exited' || status.outcome !== 'succeeded' || read === 'unread' || (read !== undefined && 'rejected' in read))
          return [];
        return this.#settings.machine.readiedBySuccess(runId, itemId).flatMap((item): Choice[] => {
          const stored = this.#runs.dispatchFacts(item.runId, item.itemId);
          if (stored === undefined || !this.#settings.executors[stored.executor]) return [];
          const spec = JSON.parse(stored.spec) as ItemSpec;
          if (Object.keys(spec.needs ?? {}).length > 0 || (spec.secrets ?? []).length > 0 || spec.effect === 'pure') return [];
          return [{ item, locks: declaredLocks(spec.locks), stored, spec, inputs: {} }];
        });
      }),
    )();
    const drafts = (await Promise.all(choices.map((choice) => this.#draft(choice)))).filter((outcome) => typeof outcome === 'object');
    return new Map((await this.#signAndStore(drafts)).map((prepared) => [prepared.executionId, prepared]));
  }

  // Records, in the caller's transaction, the dispatch of a chosen item whose dispatch was
  // prepared for the attempt it is chosen for (true; added to `recorded`). False, with nothing
  // written, when none was, or its dispatch cannot be recorded: the next round prepares it.
  #recordLikely(choice: Choice, likely: ReadonlyMap<string, PreparedDispatch>, recorded: PreparedDispatch[]): boolean {
    const { item, stored, locks, inputs } = choice;
    const prepared = likely.get(`${item.runId}/${item.itemId}/${stored.nextAttempt}`);
    if (prepared === undefined || isDispatchRefusal(inputs) || Object.keys(inputs).length > 0) return false;
    // What the choice knows now, rather than what the guess read: when it became ready, its lock wait.
    const dispatch: PreparedDispatch = { ...prepared, locks, readyAt: item.readyAt, lockWait: lockWaitOf(stored.lockWaitStartedAt, stored.lockWaitLocks) };
    if (!this.#recordDispatch(dispatch)) return false;
    recorded.push(dispatch);
    return true;
  }

  // Oldest ready items first, up to the concurrency left, within per-run and per-queue limits and
  // the locks they need; each with what its dispatch needs from the database.
  #choose(limit = Infinity): Choice[] {
    // Every live attempt belongs to a run: the live count is the sum of the counts by run.
    const { byRun, byQueue } = this.#attempts.liveCounts();
    let live = 0;
    for (const count of byRun.values()) live += count;
    const capacity = Math.min((this.#settings.concurrency ?? 16) - live, limit);
    if (capacity <= 0) return [];
    const runLimits = new Map<string, number | null>();
    // Read lazily, in ready order: the choice stops reading once the pass is full.
    const candidates = function* (this: Dispatcher): Generator<Omit<Choice, 'inputs'> & DispatchCandidate> {
      // A page a little larger than the room left: most passes take the first items they read.
      for (const { item, facts: stored } of this.#settings.machine.readyCandidatesInPages(capacity * 4 + 64, capacity + 16)) {
        const spec = JSON.parse(stored.spec) as ItemSpec;
        const queue = spec.queue === undefined ? {} : { queue: spec.queue };
        yield { item, runId: item.runId, ...queue, locks: declaredLocks(spec.locks), stored, spec };
      }
    };
    // Items held back by a lock: when each started waiting is written once, by the first pass that
    // saw it (an item whose wait is recorded is not written again), after the choice.
    const lockWaits: { item: ItemRecord; locks: string[] }[] = [];
    const chosen = chooseDispatches(
      candidates.call(this),
      {
        capacity,
        liveByRun: byRun,
        liveByQueue: byQueue,
        runLimit: (runId) => {
          if (!runLimits.has(runId)) runLimits.set(runId, this.#settings.machine.run(runId)?.concurrency ?? null);
          return runLimits.get(runId);
        },
        queueLimit: (queue) => this.#settings.queues?.[queue]?.concurrency,
        heldLocks: this.#locks.held(),
      },
      (candidate, locks) => {
        if (candidate.stored.lockWaitStartedAt === null) lockWaits.push({ item: candidate.item, locks });
      },
    );
    if (lockWaits.length > 0) {
      const startedAt = isoTime(this.#now());
      for (const { item, locks } of lockWaits) this.#runs.startLockWait(item.runId, item.itemId, startedAt, locks);
    }
    // Inputs are resolved for the chosen items only, not for those that wait.
    return chosen.map(({ item, locks, stored, spec }) => ({ item, locks: [...locks], stored, spec, inputs: this.#inputs(item.runId, spec) }));
  }

  // Drafts the manifest of the item's next attempt (`#signAndStore` signs it with the others of its
  // pass). A pure item whose inputs produced a result before reuses it instead ('reused'); one that
  // cannot be dispatched at all fails at once ('refused').
  async #draft({ item, locks, stored, spec, inputs }: Choice): Promise<DraftedDispatch | 'reused' | 'refused'> {
    const { runId, itemId } = item;
    const executor = this.#settings.executors[stored.executor];
    if (!executor) return this.#refuse(item, dispatchRefusal('CAIRN_CONFIG_INVALID', `no executor named ${JSON.stringify(stored.executor)} is configured`));
    if (isDispatchRefusal(inputs)) return this.#refuse(item, inputs);
    const secrets = await this.#revealSecrets(spec);
    if (secrets && isDispatchRefusal(secrets)) return this.#refuse(item, secrets);
    const workspace = (stored.workspace as DispatchManifest['workspace'] | null) ?? emptyWorkspace;
    const inputDigest = spec.effect === 'pure' ? pureInputDigest(spec, workspace, inputs, secrets?.versions ?? {}) : null;
    if (inputDigest !== null && this.#reuse(item, inputDigest)) return 'reused';
    const attempt = stored.nextAttempt;
    const executionId = `${runId}/${itemId}/${attempt}`;
    // Members in code-unit order, as canonical JSON writes them: the signature's encoding then
    // writes the manifest as it stands instead of sorting a copy of it first (issue 16).
    const manifest: DispatchManifest = {
      apply: spec.apply ?? [],
      attempt,
      effect: spec.effect ?? 'read-impure',
      env: spec.env ?? {},
      executionId,
      fencingToken: attempt,
      inputs,
      issuedAt: isoTime(this.#now()),
      itemId,
      limits: {
        ...(executor.capabilities.isolation === undefined ? {} : { isolation: executor.capabilities.isolation }),
        maxLogBytes: 5_000_000,
        maxPatchBytes: 50_000_000,
        network: spec.network ?? false,
        ...(spec.pathRules === 'posix' ? { pathRules: 'posix' as const } : {}),
        timeoutMs: spec.timeout ? parseDuration(spec.timeout) : defaultTimeoutMs,
      },
      runId,
      runtime: spec.runtime,
      secretNames: spec.secrets ?? [],
      version: 'cairn.manifest/v1',
      workspace,
    };
    return {
      manifest,
      runId,
      itemId,
      attempt,
      executionId,
      executor,
      executorName: stored.executor,
      locks,
      timeoutMs: manifest.limits.timeoutMs,
      queue: spec.queue ?? null,
      readyAt: item.readyAt,
      lockWait: lockWaitOf(stored.lockWaitStartedAt, stored.lockWaitLocks),
      inputDigest,
      hasDependents: stored.hasDependents === 1,
      ...(secrets ? { secrets: secrets.values, secretVersions: secrets.versions } : {}),
    };
  }

  // Signs the drafted manifests of one pass together (ADR 0026: one signature for two or more) and
  // stores each by its digest.
  async #signAndStore(drafts: readonly DraftedDispatch[]): Promise<PreparedDispatch[]> {
    // Built by `#draft` from the item's spec (validated at submit) and the engine's own fields.
    const signed = await signManifests(
      drafts.map(({ manifest }) => manifest),
      this.#settings.signer,
      { prevalidated: true },
    );
    return Promise.all(
      drafts.map(async ({ manifest: _manifest, ...draft }, index) => {
        // The stored bytes and their digest from one canonical encoding, not two.
        const bytes = canonicalJsonBytes(signed[index]!);
        const manifestDigest = sha256Digest(bytes);
        // Put without a flush of its own (ADR 0024): the dispatch that names it commits without one too.
        await this.#settings.storage.put(manifestKey(manifestDigest), bytes, { ifAbsent: true, contentType: 'application/json', deferFlush: true });
        return { ...draft, manifestDigest };
      }),
    );
  }

  // Finishes a pure item with the result an earlier attempt produced from the same inputs, if one
  // did: audited as a reuse naming that attempt. False when there is none (or the item moved on).
  #reuse(item: ItemRecord, inputDigest: string): boolean {
    const earlier = this.#pure.find(inputDigest);
    if (!earlier) return false;
    const { runId, itemId } = item;
    try {
      this.#settings.database.transaction(() => {
        this.#settings.machine.startItem(runId, itemId);
        this.#runs.setArtifacts(runId, itemId, earlier.artifacts);
        // A retry that reuses a result succeeds: the failure of the attempt before it is over.
        this.#runs.setFailure(runId, itemId, null);
        this.#settings.audit.append({
          actor: engineActor,
          action: 'item.reused',
          entity: { kind: 'item', id: `${runId}/${itemId}` },
          outcome: 'success',
          runId,
          data: { inputDigest, from: { runId: earlier.runId, itemId: earlier.itemId, attempt: earlier.attempt }, artifacts: earlier.artifacts },
        });
        this.#settings.machine.finishItem(runId, itemId, 'succeeded');
      })();
      return true;
    } catch (error) {
      if (isCairnError(error, 'CAIRN_LIFECYCLE_TRANSITION_INVALID')) return false;
      throw error;
    }
  }

  // The values of the secrets the item names, decrypted now, with their versions; undefined when
  // it names none, a reason when one is missing.
  // Fails an item that cannot be dispatched at all, with why, without an attempt.
  #refuse({ runId, itemId }: ItemRecord, { refused, reason }: DispatchRefusal): 'refused' {
    const failure = engineFailure(refused, `The item was not dispatched: ${reason}.`);
    this.#settings.machine.startItem(runId, itemId);
    this.#runs.setFailure(runId, itemId, failure);
    this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { reason, failure: failureSummary(failure) });
    return 'refused';
  }

  async #revealSecrets(spec: ItemSpec): Promise<RevealedSecrets | DispatchRefusal | undefined> {
    const names = spec.secrets ?? [];
    if (names.length === 0) return undefined;
    if (!this.#settings.secrets) return dispatchRefusal('CAIRN_SECRET_UNAVAILABLE', `secrets ${names.join(', ')}: no secret store is configured`);
    return this.#settings.secrets.reveal(names);
  }

  // Records one dispatch inside the pass's transaction: false, with nothing written, when another
  // pass or a cancel moved the item first or its locks were taken. Both are checked before
  // anything is written, so no savepoint is needed (one per dispatch cost more than the dispatch);
  // any other failure aborts the pass's transaction.
  #recordDispatch(dispatch: PreparedDispatch): boolean {
    const { runId, itemId, attempt, executionId, manifestDigest } = dispatch;
    if (!dispatch.locks.every((lock) => this.#locks.available(lock))) return false;
    if (!this.#settings.machine.startItemIfStartable(runId, itemId)) return false;
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
    });
    return true;
  }

  // `rowWritten: false`: the attempt's end is recorded in the same transaction, and writes its row
  // (state and handle) then.
  #recordStart(dispatch: PreparedDispatch, handle: ExecutionHandle, { rowWritten = true } = {}): void {
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

  #recordStartFailure(
    dispatch: { readonly runId: string; readonly itemId: string; readonly attempt: number; readonly executionId: string },
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
    this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { failure: failureSummary(failure) });
  }

  // The digests of the item's needs, from its producers' last successful attempts; a reason
  // string when one is missing.
  #inputs(runId: string, spec: ItemSpec): Record<string, ManifestInput> | DispatchRefusal {
    const inputs: Record<string, ManifestInput> = {};
    for (const [name, need] of Object.entries(spec.needs ?? {})) {
      const digest = this.#runs.artifacts(runId, need.from)?.[need.select];
      if (digest === undefined) return dispatchRefusal('CAIRN_NOT_FOUND', `input ${name}: item ${need.from} produced no ${need.select}`);
      inputs[name] = { from: need.from, select: need.select, digest: digest as ManifestInput['digest'] };
    }
    return inputs;
  }

  async #complete(attempt: AttemptRecord, status: ExecutionStatus): Promise<void> {
    this.#recordInTransaction(attempt, status, await this.#readResult(attempt));
  }

  // Records an ended attempt; callers run it in a transaction or savepoint of its own. `current`:
  // the caller read `attempt` in this same transaction, live (it is not read again); `handle`: its
  // start was recorded in this transaction too, and left the row (state, handle) to this write.
  #recordCompletion(
    attempt: AttemptRecord,
    status: ExecutionStatus,
    read: ResultRead,
    { current = false, handle }: { readonly current?: boolean; readonly handle?: ExecutionHandle } = {},
  ): void {
    // A pushed exit and the reconcile loop may both get here: the first one records it.
    if (!current && this.#attempts.byExecutionId(attempt.executionId)?.state !== 'running') return;
    const ended = attemptOutcome({ status, read, stopReason: attempt.stopReason, deadline: attempt.deadline });
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
      exitCode,
      ...(failure ? { failure: failureSummary(failure) } : {}),
      itemId: attempt.itemId,
      outcome,
    });
    this.#settings.observer?.attemptEnded?.({
      runId: attempt.runId,
      itemId: attempt.itemId,
      executor: attempt.executor,
      outcome,
      durationMs: this.#now() - Date.parse(attempt.dispatchedAt),
    });
    if (ended.outcome === 'succeeded') {
      if (attempt.inputDigest !== null) this.#pure.record(attempt, artifacts ?? {}, exitCode, isoTime(this.#now()));
      // A success's artifacts are written with its state, in one statement.
      this.#settings.machine.finishItem(attempt.runId, attempt.itemId, 'succeeded', engineActor, {}, artifacts ?? {});
    } else if (ended.outcome === 'cancelled') this.#settings.machine.finishItem(attempt.runId, attempt.itemId, 'cancelled');
    else this.#failOrRetry(attempt, ended.outcome, ended.failure);
  }

  /**
   * Audits something that happened to an attempt, by the engine, in the caller's transaction.
   * `data` names the attempt (its number and item) and is written by each caller with its members
   * in code-unit order, as canonical JSON writes them: the entry's text is then written as it
   * stands, without a sorted copy of its data or a spread to add the attempt's fields (issue 16).
   */
  #auditAttempt(
    action: 'attempt.dispatched' | 'attempt.started' | 'attempt.completed' | 'attempt.lost' | 'attempt.cancelled' | 'attempt.result-rejected',
    attempt: { readonly runId: string; readonly executionId: string },
    outcome: 'success' | 'failure' | 'denied',
    data: AttemptEntryData,
  ): void {
    this.#settings.audit.append({ actor: engineActor, action, entity: { kind: 'attempt', id: attempt.executionId }, outcome, runId: attempt.runId, data });
  }

  // Fails the item or retries it, as `retryDecision` says.
  #failOrRetry(attempt: AttemptRecord, outcome: 'failed' | 'timed-out' | 'lost', failure: AttemptFailure): void {
    const { runId, itemId } = attempt;
    const spec = JSON.parse(this.#runs.itemSpec(runId, itemId)!.spec) as ItemSpec;
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

  // The result of an attempt this pass dispatched (its fencing token is its attempt number).
  #readResultOf(dispatch: PreparedDispatch): Promise<ResultRead> {
    return this.#readResult({ executionId: dispatch.executionId, fencingToken: dispatch.attempt, manifestDigest: dispatch.manifestDigest });
  }

  #readResult(attempt: Pick<AttemptRecord, 'executionId' | 'fencingToken' | 'manifestDigest'>): Promise<ResultRead> {
    return readResult(this.#settings.storage, attempt);
  }
}

/** How a dispatch pass goes (`Dispatcher.dispatchReady`, `Dispatcher.dispatchNext`). */
export interface DispatchPassOptions {
  /**
   * Asked after a round of the pass in which items ended (tasks whose exits came before their
   * starts were recorded): true to dispatch what they made ready in the same pass. Absent, a pass
   * is one round, and `dispatchNext` hands off its starts.
   */
  readonly chain?: () => boolean;
  /** At most this many items a pass (within the concurrency left); absent, as many as it allows. */
  readonly limit?: number;
}

/** A pass of `dispatchNext`: what it recorded, and its starts still to come. */
export interface DispatchPass {
  /** Items the pass moved: dispatches recorded, and pure items that reused an earlier result. */
  readonly moved: number;
  /**
   * Resolves once the recorded dispatches' starts are recorded (after the commit that carries the
   * dispatches), with how many items started or reused a result; rejects as the pass would have
   * (a failed commit, a full disk).
   */
  readonly started: Promise<number>;
}

/** An exit pushed before its attempt's start was recorded, with the result read for it ('unread': it could not be). */
interface EarlyExit {
  readonly executionId: string;
  readonly runId: string;
  readonly itemId: string;
  readonly hasDependents: boolean;
  readonly status: ExecutionStatus;
  readonly read: ResultRead | 'unread';
}

/** A round of a pass whose dispatches are recorded, their starts still to come. */
interface RecordedRound {
  readonly recorded: readonly PreparedDispatch[];
  /** Pure items that reused an earlier result instead. */
  readonly reused: number;
  /** Items that ended without starting (a reused result, a refusal): they may have made others ready. */
  readonly ended: number;
}

/** An attempt whose manifest is drafted, not yet signed. */
interface DraftedDispatch extends Omit<PreparedDispatch, 'manifestDigest'> {
  readonly manifest: DispatchManifest;
}

/** An attempt ready to record: its manifest is signed and stored. */
interface PreparedDispatch {
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly executionId: string;
  readonly executor: ExecutorV1;
  readonly executorName: string;
  readonly locks: readonly HeldLock[];
  readonly manifestDigest: Digest;
  readonly timeoutMs: number;
  readonly queue: string | null;
  /** When the item became ready, for dispatch latency. */
  readonly readyAt: string | null;
  /** Its wait for locks before this dispatch, if it had one. */
  readonly lockWait: LockWait | null;
  /** A pure item's input digest, under which its success is recorded for reuse. */
  readonly inputDigest: string | null;
  /** Whether another item depends on it (only then may its quick end make one ready to guess at). */
  readonly hasDependents: boolean;
  /** Decrypted secret values, handed to the executor and then dropped; never stored. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly secretVersions?: Readonly<Record<string, number>>;
}

/** An attempt's audit data: its number and item, and what the entry adds (`#auditAttempt`). */
type AttemptEntryData = JsonObject & { readonly attempt: number; readonly itemId: string };

/** An item's stored dispatch facts (see `RunStore.dispatchFacts`). */
type StoredItem = NonNullable<ReturnType<RunStore['dispatchFacts']>>;

/** A ready item a pass chose, with what its dispatch needs (its inputs, or why one is missing). */
interface Choice {
  readonly item: ItemRecord;
  readonly locks: HeldLock[];
  readonly stored: StoredItem;
  readonly spec: ItemSpec;
  readonly inputs: Record<string, ManifestInput> | DispatchRefusal;
}

/**
 * What a pure item's result depends on: what it runs, over which workspace, with which inputs,
 * environment and secret versions. Same digest, same result: the item may reuse an earlier one.
 */
function pureInputDigest(
  spec: ItemSpec,
  workspace: string,
  inputs: Readonly<Record<string, ManifestInput>>,
  secretVersions: Readonly<Record<string, number>>,
): string {
  return digestOfJson({
    version: 'cairn.pure-input/v1',
    runtime: spec.runtime as unknown as JsonObject,
    workspace,
    inputs: Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.digest])),
    apply: spec.apply ?? [],
    env: spec.env ?? {},
    secrets: secretVersions,
    network: spec.network ?? false,
    // Only when waived, so every digest taken before the rules existed stays the same.
    ...(spec.pathRules === 'posix' ? { pathRules: 'posix' } : {}),
  });
}
