import type { ExecutionHandle, ExecutionStatus, ItemSpec, ManifestInput, TaskEnvelope } from '@cairn/core';
import { storageFullReason } from '../store/storage-full.ts';
import { isoTime } from '../iso-time.ts';
import type { ItemRecord } from '../records/run-records.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { AttemptRecorder } from './attempt-recorder.ts';
import type { AttemptStore } from '../store/sqlite/attempt-store.ts';
import { lockWaitOf } from '../store/shared/stored-records.ts';
import { chooseDispatches, type DispatchCandidate } from './choose-dispatches.ts';
import type { DispatchChoice } from './dispatch-choice.ts';
import type { DispatchContext } from './dispatch-context.ts';
import { dispatchRefusal, isDispatchRefusal, type DispatchRefusal } from '../dispatch-refusal.ts';
import type { DispatcherSettings } from './dispatcher-settings.ts';
import { declaredLocks, type LockTable } from '../store/sqlite/lock-table.ts';
import type { ManifestDrafter } from './manifest-drafter.ts';
import type { PreparedDispatch } from './prepared-dispatch.ts';
import type { PushedExits } from './pushed-exits.ts';
import { outputWanted } from './emitter-output.ts';
import { readResult, type ResultRead } from './read-result.ts';
import { judgeStdoutWanted } from './candidate-judge.ts';

/**
 * Dispatch passes, one at a time: each moves ready items onto executors, in dispatch order (priority, then ready time), as many as
 * the limits allow. A pass chooses (`chooseDispatches`), has the chosen items' manifests drafted,
 * signed and stored, records their dispatches, starts their tasks once the dispatches are durable,
 * and records the starts, with the exits pushed meanwhile.
 */
export class DispatchPasses {
  readonly #settings: DispatcherSettings;
  readonly #runs: RunStore;
  readonly #attempts: AttemptStore;
  readonly #locks: LockTable;
  readonly #now: () => number;
  readonly #commit: GroupCommit;
  readonly #exits: PushedExits;
  readonly #drafter: ManifestDrafter;
  readonly #recorder: AttemptRecorder;
  #dispatching: Promise<DispatchPass> | undefined;

  constructor(
    { settings, runs, attempts, locks, now, commit }: DispatchContext,
    parts: { readonly exits: PushedExits; readonly drafter: ManifestDrafter; readonly recorder: AttemptRecorder },
  ) {
    this.#settings = settings;
    this.#runs = runs;
    this.#attempts = attempts;
    this.#locks = locks;
    this.#now = now;
    this.#commit = commit;
    this.#exits = parts.exits;
    this.#drafter = parts.drafter;
    this.#recorder = parts.recorder;
  }

  /** The pass under way, or a new one when none is (`Dispatcher.dispatchNext`). */
  next(options: DispatchPassOptions = {}): Promise<DispatchPass> {
    this.#dispatching ??= this.#dispatchPass(options).finally(() => {
      this.#dispatching = undefined;
    });
    return this.#dispatching;
  }

  // Ready items in dispatch order (highest effective priority first, FIFO within one: the store's
  // `dispatchOrderOf`). An item whose locks are taken waits, and reserves those lock names: no
  // later item takes them before it (FIFO for lock waiters, so shared holders cannot starve an
  // exclusive waiter). The pass works in batches (group commit): manifests are signed and
  // stored together, every dispatch is recorded in one transaction, the executors are started
  // together, and their handles are recorded in one more, with the exits pushed meanwhile (and,
  // when the pass chains, the choice of what those exits made ready).
  async #dispatchPass(options: DispatchPassOptions): Promise<DispatchPass> {
    // The pass's reads in one read transaction: one snapshot, and one read lock for all of them
    // rather than one per statement.
    let chosen = this.#settings.workingCopy.transaction(() => this.#choose(options.limit))();
    // Dispatches the round before recorded in its exits' transaction (see `#startRound`).
    let already: PreparedDispatch[] = [];
    let moved = 0;
    let started = 0;
    while (chosen.length > 0 || already.length > 0) {
      // A round whose dispatches the round before recorded is a chain of quick items under way.
      const chained = already.length > 0;
      const round = await this.#recordRound(chosen, already);
      moved += round.recorded.length + round.reused;
      const starting = this.#startRound(round, chained && options.chain !== undefined, options.chain);
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
  async #recordRound(chosen: readonly DispatchChoice[], already: readonly PreparedDispatch[]): Promise<RecordedRound> {
    const outcomes = await Promise.all(chosen.map((choice) => this.#drafter.draft(choice)));
    // A round of candidates is one choice and several drafts (ADR 0053), recorded together.
    const prepared = await this.#drafter.signAndStore(outcomes.flatMap((outcome) => (typeof outcome === 'object' ? outcome : [])));
    const reused = outcomes.filter((outcome) => outcome === 'reused').length;
    // Items that ended without starting (a reused result, a refusal) may have made others ready.
    const ended = outcomes.filter((outcome) => typeof outcome !== 'object').length;
    const recorded =
      prepared.length === 0
        ? [...already]
        : [...already, ...this.#settings.workingCopy.transaction(() => prepared.filter((dispatch) => this.#recorder.recordDispatch(dispatch)))()];
    return { recorded, reused, ended };
  }

  // Starts a round's recorded dispatches and records their starts: returns how many started (or
  // reused a result), and, when `chain` says to go on and some of them already ended, the items
  // chosen next and those of them whose dispatch is recorded. `guessWhileCommitting`: the pass is
  // a chain of quick items under way, so what these dispatches' successes would make ready is
  // prepared while the commit of their dispatches is in flight.
  async #startRound(
    round: RecordedRound,
    guessWhileCommitting: boolean,
    chain: (() => boolean) | undefined,
  ): Promise<{ started: number; next: DispatchChoice[]; recorded: PreparedDispatch[] }> {
    const { recorded, reused } = round;
    let { ended } = round;
    // A task starts only once its dispatch is durable: a writer that loses its lease starts nothing.
    const committing = recorded.length > 0 ? this.#commit() : undefined;
    // In a chain of quick items, the next hop's manifest is drafted, signed and stored while this
    // hop's commit is in flight, rather than after the exit, between it and the next commit: the
    // deciding thread has nothing else to do during the fdatasync. Only where the pass already
    // chained (its tasks end at once, so the guess is likely used: at worst one is not, where
    // `chain` ends the pass); a guess not used is dropped, as any below, and one that fails is no
    // guess.
    const guessed =
      committing !== undefined && guessWhileCommitting && recorded.some(({ hasDependents }) => hasDependents)
        ? this.#prepareLikelyNext(recorded.filter(({ hasDependents }) => hasDependents)).catch(() => new Map<string, PreparedDispatch>())
        : undefined;
    if (committing !== undefined) await committing;
    for (const dispatch of recorded) this.#exits.starting(dispatch.executionId);
    const starts = await Promise.all(
      recorded.map(async (dispatch) => {
        try {
          const traceContext = this.#settings.attemptTraceContext?.(dispatch);
          const task: TaskEnvelope = {
            executionId: dispatch.executionId,
            manifestDigest: dispatch.manifestDigest,
            ...(dispatch.secrets ? { secrets: dispatch.secrets } : {}),
            ...(dispatch.gateway ? { gateway: dispatch.gateway } : {}),
            ...(dispatch.labels ? { labels: dispatch.labels } : {}),
            ...(traceContext ? { traceContext } : {}),
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
          this.#readResultOf(start.dispatch, status).then(
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
    // them: a chain of quick items then commits once a hop, not twice. A guess that
    // fails (a signer or storage error) is no guess: the next round prepares them, and fails there.
    const likelyEnds = chaining ? early.filter(likelyToReady) : [];
    const likely =
      guessed !== undefined
        ? await guessed
        : likelyEnds.length > 0
          ? await this.#prepareLikelyNext(likelyEnds).catch(() => new Map<string, PreparedDispatch>())
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
    let next: DispatchChoice[] = [];
    const recordedNext: PreparedDispatch[] = [];
    try {
      this.#settings.workingCopy.transaction(() => {
        // An attempt whose exit is recorded just below has its row written once, by its end (with
        // its handle): a row written twice in one transaction was a share of a chain's hop.
        const endingNow = new Set(early.flatMap(({ executionId, read }) => (read === 'unread' ? [] : [executionId])));
        const handles = new Map<string, ExecutionHandle>();
        for (const start of starts) {
          if ('handle' in start) {
            handles.set(start.dispatch.executionId, start.handle);
            this.#recorder.recordStart(start.dispatch, start.handle, { rowWritten: !endingNow.has(start.dispatch.executionId) });
          } else if (storageFullReason(start.error) !== undefined) storageFull ??= start.error;
          else this.#recorder.recordStartFailure(start.dispatch, start.error);
        }
        for (const { executionId, status, read } of early) {
          const handle = handles.get(executionId);
          if (read === 'unread' || handle === undefined) continue;
          const attempt = this.#attempts.byExecutionId(executionId);
          if (attempt?.state !== 'dispatching') continue;
          this.#recorder.recordCompletion(attempt, status, read, { current: true, handle });
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
    await Promise.all([...early.filter(({ read }) => read === 'unread'), ...late].map(({ executionId, status }) => this.#exits.pushed(executionId, status)));
    return { started: starts.filter((start) => 'handle' in start).length + reused, next, recorded: recordedNext };
  }

  // Prepares the dispatch of the items the successes of `ends` would make ready (see
  // `RunStateMachine.readiedBySuccess`), by execution id: after their exits, or, in a chain under
  // way, before them (while their dispatches commit). A guess, checked against the choice the
  // exits' transaction makes: only plain items are guessed (no inputs, whose digests the ends
  // write; no secrets; not pure, whose result may be reused instead), and an item the choice does
  // not take at the attempt guessed is prepared again by the next round as any other. A guess
  // that is wrong leaves a manifest no dispatch names, as a dispatch a cancel overtook does.
  async #prepareLikelyNext(ends: readonly { readonly runId: string; readonly itemId: string }[]): Promise<Map<string, PreparedDispatch>> {
    // Its reads in one read transaction: one snapshot, one read lock.
    const choices = this.#settings.workingCopy.transaction(() =>
      ends.flatMap(({ runId, itemId }) =>
        this.#settings.machine.readiedBySuccess(runId, itemId).flatMap((item): DispatchChoice[] => {
          const stored = this.#runs.dispatchFacts(item.runId, item.itemId);
          if (stored === undefined || !this.#settings.executors[stored.executor]) return [];
          const spec = JSON.parse(stored.spec) as ItemSpec;
          if (
            Object.keys(spec.needs ?? {}).length > 0 ||
            spec.runtime.kind === 'merge' ||
            spec.runtime.kind === 'deliver' ||
            spec.candidates !== undefined ||
            (spec.secrets ?? []).length > 0 ||
            spec.effect === 'pure'
          )
            return [];
          return [{ item, locks: declaredLocks(spec.locks), stored, spec, inputs: {} }];
        }),
      ),
    )();
    const drafts = (await Promise.all(choices.map((choice) => this.#drafter.draft(choice)))).flatMap((outcome) => (typeof outcome === 'object' ? outcome : []));
    return new Map((await this.#drafter.signAndStore(drafts)).map((prepared) => [prepared.executionId, prepared]));
  }

  // Records, in the caller's transaction, the dispatch of a chosen item whose dispatch was
  // prepared for the attempt it is chosen for (true; added to `recorded`). False, with nothing
  // written, when none was, or its dispatch cannot be recorded: the next round prepares it.
  #recordLikely(choice: DispatchChoice, likely: ReadonlyMap<string, PreparedDispatch>, recorded: PreparedDispatch[]): boolean {
    const { item, stored, locks, inputs } = choice;
    const prepared = likely.get(`${item.runId}/${item.itemId}/${stored.nextAttempt}`);
    if (prepared === undefined || isDispatchRefusal(inputs) || Object.keys(inputs).length > 0) return false;
    // What the choice knows now, rather than what the guess read: when it became ready, its lock wait.
    const dispatch: PreparedDispatch = { ...prepared, locks, readyAt: item.readyAt, lockWait: lockWaitOf(stored.lockWaitStartedAt, stored.lockWaitLocks) };
    if (!this.#recorder.recordDispatch(dispatch)) return false;
    recorded.push(dispatch);
    return true;
  }

  // Ready items in dispatch order, up to the concurrency left, within per-run and per-queue limits
  // and the locks they need; each with what its dispatch needs from the database.
  #choose(limit = Infinity): DispatchChoice[] {
    // Every live attempt belongs to a run: the live count is the sum of the counts by run.
    const { byRun, byQueue } = this.#attempts.liveCounts();
    let live = 0;
    for (const count of byRun.values()) live += count;
    const capacity = Math.min((this.#settings.concurrency ?? 16) - live, limit);
    if (capacity <= 0) return [];
    const runLimits = new Map<string, number | null>();
    const awaitingBudget = new Map<string, boolean>();
    const parked: ItemRecord[] = [];
    // Read lazily, in dispatch order: the choice stops reading once the pass is full.
    const candidates = function* (this: DispatchPasses): Generator<Omit<DispatchChoice, 'inputs'> & DispatchCandidate> {
      // A page a little larger than the room left: most passes take the first items they read.
      for (const { item, facts: stored } of this.#settings.machine.readyCandidatesInPages(capacity * 4 + 64, capacity + 16)) {
        const spec = JSON.parse(stored.spec) as ItemSpec;
        // A run whose model spend reached its budget starts no agent item until it is raised (ADR
        // 0033): each is set aside, so that a large run's items do not fill every pass's page.
        if (spec.runtime.kind === 'agent') {
          if (!awaitingBudget.has(item.runId)) awaitingBudget.set(item.runId, this.#settings.machine.run(item.runId)?.state === 'awaiting-budget');
          if (awaitingBudget.get(item.runId)) {
            parked.push(item);
            continue;
          }
        }
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
          if (!runLimits.has(runId)) runLimits.set(runId, this.#settings.machine.runConcurrency(runId) ?? null);
          return runLimits.get(runId);
        },
        queueLimit: (queue) => this.#settings.queues?.[queue]?.concurrency,
        heldLocks: this.#locks.held(),
      },
      (candidate, locks) => {
        if (candidate.stored.lockWaitStartedAt === null) lockWaits.push({ item: candidate.item, locks });
      },
    );
    for (const item of parked) this.#runs.parkReady(item.runId, item.itemId);
    if (lockWaits.length > 0) {
      const startedAt = isoTime(this.#now());
      for (const { item, locks } of lockWaits) this.#runs.startLockWait(item.runId, item.itemId, startedAt, locks);
    }
    // Inputs are resolved for the chosen items only, not for those that wait.
    return chosen.map(({ item, locks, stored, spec }) => ({ item, locks: [...locks], stored, spec, inputs: this.#inputs(item.runId, spec) }));
  }

  // The digests of the item's needs, from its producers' last successful attempts; a reason
  // string when one is missing. A merge's inputs are the patches of the items it merges, each
  // named after its item (a merge has no needs of its own); an item that changed nothing has no
  // patch and is left out, which the worker reads as nothing to merge from it. A delivery's one
  // input is the patch of the item it delivers, named after that item (none: it changed nothing).
  #inputs(runId: string, spec: ItemSpec): Record<string, ManifestInput> | DispatchRefusal {
    const inputs: Record<string, ManifestInput> = {};
    for (const [name, need] of Object.entries(spec.needs ?? {})) {
      const digest = this.#runs.artifacts(runId, need.from)?.[need.select];
      if (digest === undefined) return dispatchRefusal('CAIRN_NOT_FOUND', `input ${name}: item ${need.from} produced no ${need.select}`);
      inputs[name] = {
        from: need.from,
        select: need.select,
        digest: digest as ManifestInput['digest'],
        ...(need.path === undefined ? {} : { path: need.path }),
      };
    }
    if (spec.runtime.kind === 'merge') {
      const mayHaveReruns = spec.runtime.onConflict === 'rerun';
      for (const from of spec.runtime.from) {
        // A producer the merge re-ran (`onConflict: rerun`) is merged as its re-run made it; only
        // such a merge looks for re-runs (one more read per producer).
        const rerun = `${spec.id}/${from}`;
        const rerunArtifacts = mayHaveReruns ? this.#runs.artifacts(runId, rerun) : undefined;
        const digest = (rerunArtifacts ?? this.#runs.artifacts(runId, from))?.patch;
        if (digest !== undefined) inputs[from] = { from: rerunArtifacts ? rerun : from, select: 'patch', digest: digest as ManifestInput['digest'] };
      }
    }
    if (spec.runtime.kind === 'deliver') {
      const digest = this.#runs.artifacts(runId, spec.runtime.from)?.patch;
      if (digest !== undefined) inputs[spec.runtime.from] = { from: spec.runtime.from, select: 'patch', digest: digest as ManifestInput['digest'] };
    }
    return inputs;
  }

  // The result of an attempt this pass dispatched (its fencing token is its attempt number).
  #readResultOf(dispatch: PreparedDispatch, status: ExecutionStatus): Promise<ResultRead> {
    return readResult(
      this.#settings.storage,
      { executionId: dispatch.executionId, fencingToken: dispatch.attempt, manifestDigest: dispatch.manifestDigest },
      outputWanted(this.#runs, dispatch.runId, dispatch.itemId),
      judgeStdoutWanted(this.#runs, dispatch.runId, dispatch.itemId, dispatch.attempt),
      status.result,
    );
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

// Whether an early exit is a success whose end may make others ready (what `#prepareLikelyNext` guesses from).
function likelyToReady({ hasDependents, status, read }: EarlyExit): boolean {
  return hasDependents && status.state === 'exited' && status.outcome === 'succeeded' && read !== 'unread' && (read === undefined || !('rejected' in read));
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
