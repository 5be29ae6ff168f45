import type { ExecutionStatus, ExecutorV1 } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import type { Checkpointer } from '../audit/checkpointer.ts';
import { storageFullReason } from '../store/storage-full.ts';
import type { Dispatcher } from '../dispatch/dispatcher.ts';
import { isoTime } from '../iso-time.ts';
import { retryDelay } from '../retry-delay.ts';
import type { ResolvedEngineSettings } from '../engine-settings.ts';
import { InboxPoller } from '../inbox/inbox-poller.ts';
import type { InboxIngester } from '../inbox/inbox-ingester.ts';
import type { ScheduleBook } from '../schedules/schedule-book.ts';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { EngineReadiness } from './engine-readiness.ts';
import { HandedOffWork } from './handed-off-work.ts';
import type { RunWaiters } from './run-waiters.ts';

/** Between tries of pushed exits that could not be written for another reason (storage down). */
const unrecordedExitsRetryMs = 250;
/**
 * Every how many reconciles the attempts whose exits are pushed are inspected too (every 5 s at the
 * default interval). A push is best effort (`ExecutorV1.onExit`): one that never comes — the process
 * that would have told it died — must not leave its attempt running until its deadline.
 */
const pushedInspectionEvery = 10;
/**
 * How long one dispatch pass may go on dispatching what its own tasks' quick exits made ready
 * (a chain of items that end at once) before the loop takes its turn again.
 */
const chainDispatchForMs = 20;
/** Between tries while the disk is full: 100 ms, 200 ms, 400 ms ... up to 5 s. */
const storageFullBackoff = { initial: '100ms', factor: 2, max: '5s', jitter: false } as const;

/** What the loop drives: the engine's parts, built by the engine. */
export interface EngineLoopSettings {
  /** The engine's settings: the reconcile and inbox intervals, the concurrency, the logger, and whether commits travel (`commit`). */
  readonly settings: ResolvedEngineSettings;
  readonly executors: Readonly<Record<string, ExecutorV1>>;
  readonly machine: RunStateMachine;
  readonly dispatcher: Dispatcher;
  readonly schedules: ScheduleBook;
  readonly checkpointer: Checkpointer;
  readonly inbox: InboxIngester;
  readonly readiness: EngineReadiness;
  readonly waiters: RunWaiters;
  readonly commit: GroupCommit;
}

/**
 * The engine's loop: one turn at a time, it records pushed exits, recovers attempts, expires
 * approvals, fires schedules, polls the inbox, stops, reconciles, dispatches and checkpoints.
 * Event-driven: a poke (a submit, an approval, a cancel, a pushed exit) wakes it at once, and it
 * otherwise sleeps until the next deadline it knows of.
 */
export class EngineLoop {
  readonly #settings: ResolvedEngineSettings;
  readonly #executors: Readonly<Record<string, ExecutorV1>>;
  readonly #machine: RunStateMachine;
  readonly #dispatcher: Dispatcher;
  readonly #schedules: ScheduleBook;
  readonly #checkpointer: Checkpointer;
  readonly #inbox: InboxPoller;
  readonly #readiness: EngineReadiness;
  readonly #waiters: RunWaiters;
  readonly #commit: GroupCommit;
  readonly #unsubscribe: (() => void)[] = [];
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;
  #running = false;
  /** A cancel asked for running tasks to stop: the loop tells their executors at once. */
  #stopsRequested = false;
  /** Loop turns that failed in a row for a full disk (the backoff grows with them). */
  #storageFullTries = 0;
  /** Starts of earlier passes waiting for the commit of their dispatches, a turn's commit, anchoring. */
  readonly #handedOff = new HandedOffWork(() => this.poke());
  /** Whether the loop's anchoring is under way (`#anchorInBackground`). */
  #anchoringInBackground = false;

  constructor(settings: EngineLoopSettings) {
    this.#settings = settings.settings;
    this.#executors = settings.executors;
    this.#machine = settings.machine;
    this.#dispatcher = settings.dispatcher;
    this.#schedules = settings.schedules;
    this.#checkpointer = settings.checkpointer;
    this.#readiness = settings.readiness;
    this.#waiters = settings.waiters;
    this.#commit = settings.commit;
    this.#inbox = new InboxPoller({
      inbox: settings.inbox,
      intervalMs: settings.settings.inboxPollMs,
      storageFull: (error) => this.#readiness.storageFull(error),
      polled: () => this.poke(),
      logger: settings.settings.logger,
    });
  }

  /** Starts the loop (recovering what a previous process left running). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const executor of Object.values(this.#executors)) {
      if (executor.capabilities.pushesCompletions && executor.onExit) {
        this.#unsubscribe.push(executor.onExit((executionId, status) => this.#pushed(executionId, status)));
      }
    }
    this.#loop = this.#runLoop();
  }

  /** Stops the loop; running tasks keep running and are re-attached by the next start. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.poke();
    await this.#loop;
    await this.#inbox.settled();
  }

  /** Wakes the loop for a turn: at once if it sleeps, or as soon as the turn under way ends. */
  poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#woken = true;
  }

  /** A cancel asked for running tasks to stop: the next turn tells their executors. */
  requestStops(): void {
    this.#stopsRequested = true;
  }

  async #runLoop(): Promise<void> {
    // Nothing is signed (manifests, checkpoints) before the signer's key is the log's: a refusal
    // stops the loop (not ready, saying why); a signer that failed (KMS unreachable) is retried.
    while (this.#running) {
      try {
        await this.#checkpointer.takeOver();
        break;
      } catch (error) {
        const reason = isCairnError(error) ? error.message : String(error);
        if (isCairnError(error, 'CAIRN_CONFIG_INVALID')) {
          this.#readiness.signerRefused(reason);
          this.#settings.logger?.error({ error: reason }, "the signer is not the audit log's key: the engine does not start");
          this.#running = false;
          return;
        }
        this.#settings.logger?.error({ error: reason }, 'checking the signer against the audit log failed; retrying');
        await this.#sleep(this.#settings.reconcileIntervalMs);
      }
    }
    let lastReconcile = 0;
    let reconciles = 0;
    // Attempts a previous process left between dispatch and start, until every one is started (an
    // executor that is down when the engine comes back delays them, and nothing else).
    let recovering = true;
    while (this.#running) {
      try {
        // This turn serves every poke so far: one that comes during it is for the next.
        this.#woken = false;
        // While the disk is full, nothing is dispatched until a write goes through again.
        const wasFull = !this.#readiness.health().ready;
        if (wasFull) this.#readiness.probeStorage();
        // Exits pushed while the disk was full (or storage was down), first: they are only in
        // memory. One that fails for another reason stays queued without holding up the rest.
        let ended = await this.#dispatcher.recordUnrecordedExits().catch((error: unknown) => {
          if (storageFullReason(error) !== undefined) throw error;
          this.#settings.logger?.error(
            { error: String(error), unrecorded: this.#dispatcher.unrecordedExits },
            'recording pushed exits failed; they stay queued',
          );
          return 0;
        });
        if (wasFull) this.#readiness.storageHasRoom();
        if (recovering) {
          // Recovery starts attempts left dispatching: never one whose start a pass still has on the way.
          await this.#handedOff.settled();
          recovering = (await this.#dispatcher.recover()) > 0;
        }
        const now = Date.now();
        ended += this.#machine.expireApprovals() + this.#schedules.fireDue();
        this.#inbox.pollIfDue();
        if (this.#stopsRequested) {
          // Attempts whose start is still on its way are stopped by a later turn (their start pokes it).
          this.#stopsRequested = (await this.#dispatcher.stopDue()) > 0;
        }
        if (now - lastReconcile >= this.#settings.reconcileIntervalMs) {
          reconciles++;
          ended += await this.#dispatcher.reconcile({ skipPushing: reconciles % pushedInspectionEvery !== 0 });
          lastReconcile = now;
        }
        // A planner's large fragment joins a step at a time, the loop going round between steps.
        ended += this.#dispatcher.joinFragments();
        // Every item due by now is the pass's to take: one it leaves ready waits for room, which
        // an event gives back (each pokes the loop), not for time. Sleeping until it is due (in
        // the past: at once) turned the loop round every millisecond while items queued behind a
        // full concurrency, each turn a pass and a commit (a WAL fsync) for nothing.
        const dueBy = isoTime((this.#settings.now ?? Date.now)());
        const started = await this.#dispatch();
        await this.#checkpointer.issueIfDue();
        this.#anchorInBackground();
        // The turn's writes go in the next group commit (readers of the state store see them once it
        // lands). Only effects wait for it, each on its own: the loop does not.
        this.#handedOff.add(this.#commit());
        // What failed after the loop had moved on (a pass's starts, an earlier turn's commit) fails
        // this turn, where the loop used to wait for them.
        const failure = this.#handedOff.takeFailure();
        if (failure) throw failure.error;
        this.#waiters.notifyAll();
        // A whole turn went through: a full disk (here or under a seam) is behind us.
        this.#storageFullTries = 0;
        if (ended > 0 || started > 0) {
          // Busy: go round again, but through the event loop, so timers and I/O (an HTTP server in
          // the same process, an executor's child processes) are never starved by a long run.
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        await this.#sleep(this.#sleepMs(lastReconcile, dueBy));
      } catch (error) {
        // Whatever a failed step wrote was rolled back with its transaction; what it decided but
        // did not write (the start of a task, an exit) is decided again: dispatched attempts whose
        // start was not recorded are re-started with the same execution id (executors start each
        // id once), and pushed exits stay queued in the dispatcher.
        recovering = true;
        if (this.#readiness.storageFull(error)) {
          await this.#sleep(retryDelay(++this.#storageFullTries, storageFullBackoff));
          continue;
        }
        // A seam that fails (storage down, an executor unreachable) must not stop the engine:
        // log it, wait a reconcile interval, and try again.
        this.#settings.logger?.error({ error: String(error) }, 'engine loop step failed; retrying');
        await this.#sleep(this.#settings.reconcileIntervalMs);
      }
    }
    // Stopped: the starts on their way land (or fail) before `stop` returns, and what they wrote
    // is committed, so the next writer finds them started rather than dispatching.
    await this.#handedOff.settled();
    await this.#commit().catch((error: unknown) => this.#settings.logger?.warn({ error: String(error) }, 'the last commit at stop failed'));
  }

  /**
   * Anchors the checkpoints that are due without the loop waiting: an anchor is a round trip out
   * of the machine (a synced file, S3, a timestamp authority) and one is due every
   * `checkpoints.everyEntries` entries, so waiting for each stalled dispatching for as long. One
   * anchoring at a time: a turn while one is under way starts none (the next turn will). Its
   * failure fails a later turn, as any work handed off.
   */
  #anchorInBackground(): void {
    if (this.#anchoringInBackground) return;
    this.#anchoringInBackground = true;
    this.#handedOff.add(
      this.#checkpointer.anchorDue().finally(() => {
        this.#anchoringInBackground = false;
      }),
    );
  }

  // One dispatch pass; returns how many items it moved. Where commits cost nothing (no `commit`
  // setting: each SQLite transaction commits itself), the pass waits for its starts and chains on
  // to what their quick exits made ready. Where they travel (a PostgreSQL group commit), the pass
  // hands its starts off to wait for the commit carrying their dispatches, and the loop goes on
  // deciding meanwhile (ADR 0023). There a pass takes at most half the concurrency: while one
  // half's commit is in flight, the loop decides on the other half, rather than every slot
  // waiting on one commit and the commits on the loop in turn.
  async #dispatch(): Promise<number> {
    if (this.#settings.commit === undefined) return this.#dispatcher.dispatchReady({ chain: this.#chainDispatch(Date.now()) });
    const pass = await this.#dispatcher.dispatchNext({ limit: Math.ceil(this.#settings.concurrency / 2) });
    // Once they are, a turn commits their starts (and exits pushed at once).
    if (pass.moved > 0) this.#handedOff.add(pass.started.then(() => this.poke()));
    return pass.moved;
  }

  // Whether a dispatch pass begun at `since` goes on with what its tasks' quick exits made ready,
  // rather than leaving it to the next turn: while nothing else asked for the loop (a poke: a
  // submit, a cancel, an approval, a pushed exit recorded) and for a short while only, so the
  // turn's other steps (stops, schedules, approvals, checkpoints) and the event loop are not held
  // up by a long chain of quick items.
  #chainDispatch(since: number): () => boolean {
    return () => this.#running && !this.#woken && !this.#stopsRequested && Date.now() - since < chainDispatchForMs;
  }

  #sleepMs(lastReconcile: number, dueBy: string): number {
    const untilReconcile = lastReconcile + this.#settings.reconcileIntervalMs - Date.now();
    const until = (time: string | null) => (time === null ? Infinity : Date.parse(time) - Date.now());
    const untilInbox = this.#inbox.untilDueMs();
    const nextSlot = this.#schedules.nextDueAt();
    const untilSlot = nextSlot === null ? Infinity : nextSlot - Date.now();
    // Exits not yet written (storage was down) are tried again soon, whatever else is due.
    const untilUnrecordedExits = this.#dispatcher.unrecordedExits > 0 ? unrecordedExitsRetryMs : Infinity;
    return Math.max(
      0,
      Math.min(
        untilReconcile,
        until(this.#machine.nextReadyAt(dueBy)),
        until(this.#machine.nextApprovalDeadline()),
        untilSlot,
        untilInbox,
        untilUnrecordedExits,
      ),
    );
  }

  #sleep(milliseconds: number): Promise<void> {
    // A poke that came while the loop was busy (or a stop) must not be slept through.
    if (this.#woken || !this.#running) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      timer = setTimeout(done, milliseconds);
      this.#wake = done;
    });
  }

  #pushed(executionId: string, status: ExecutionStatus): void {
    // The loop's next turn commits the exit with what it decides on the room it made (a freed slot,
    // a dependent now ready), in one commit, and tells the run's waiters once that commit lands.
    this.#dispatcher
      .exited(executionId, status)
      .then((recorded) => {
        // An exit not recorded wrote nothing: one pushed before its start was recorded is recorded
        // by the dispatch pass under way (waking the loop would cut a chain of dispatches short),
        // and one of an attempt already finished or unknown is ignored.
        if (!recorded) return;
        // Also when the engine is waiting out a full disk: this write went through, so it probes now.
        this.poke();
      })
      .catch((error: unknown) => {
        // The exit stays queued in the dispatcher; the loop writes it on a later turn.
        if (!this.#readiness.storageFull(error))
          this.#settings.logger?.error({ executionId, error: String(error) }, 'recording a pushed exit failed; it is retried');
        this.poke();
      });
  }
}
