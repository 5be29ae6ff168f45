import type { Digest, ExecutionHandle, ExecutionStatus, ExecutorV1, Logger, ResultRecord, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import {
  CairnError,
  parsePayload,
  parseSettings,
  runnerExitsRequestSchema,
  runnerLabelsSchema,
  runnerPollRequestSchema,
  taskEnvelopeSchema,
  type RunnerExit,
  type RunnerExitsAnswer,
  type RunnerLease,
  type RunnerPollAnswer,
  type RunnerPollRequest,
} from '@cairn/protocol';
import type { z } from 'zod';
import { ExitPushes } from './exit-pushes.ts';
import { labelsFit } from './labels-fit.ts';
import { runnerExecutorSettingsSchema, type RunnerExecutorSettings } from './runner-executor-settings.ts';
import type { Lease, RunnerIdentity, RunnerRecord, RunnerSummary, Waiter } from './lease-records.ts';
import { executionIdOf, handleOf, manifestOf, runnerProvider as provider } from './runner-handle.ts';
import { manifestNames, recordedStatus, resultRecordOf } from './stored-records.ts';

const runnerTaskEnvelopeSchema = taskEnvelopeSchema.extend({ labels: runnerLabelsSchema.exactOptional() });

/** Result records kept for exits to come; past this, those of leases no longer held (lapsed) are dropped. */
const keptStoredResults = 1_024;

/** How long an ended lease stays in the book: late exits and listings of it are told why they are refused. */
const endedRetentionMs = 15 * 60_000;

/**
 * The server's `runners` executor (ADR 0050): a lease book. `start` queues a lease; runners poll
 * for the leases their labels fit, hold them while they list them in their polls, and report how
 * they ended. A lease not listed for `leaseMs` lapses: `inspect` answers `unknown` (the engine
 * records the attempt lost) and the lease is revoked. A new book (a server restart) starts empty
 * and for `leaseMs` lets runners re-adopt the leases they still hold.
 *
 * The HTTP routes live in the server; `poll`, `reportExits`, `holds`, `manifestDigestOf` and
 * `runners` are what they call. The handle is `{ executor: 'runner', executionId, manifestDigest }`.
 */
export class RunnerExecutor implements ExecutorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities = { cancel: true, pushesCompletions: true, isolation: 'bubblewrap', networkAllowLists: true, labels: true } as const;
  readonly #settings: z.output<typeof runnerExecutorSettingsSchema>;
  readonly #storage: StorageProviderV1 | undefined;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  /** Until then, handles and held ids the book does not know may be a previous book's: runners may re-adopt them. */
  readonly #adoptionEndsAt: number;
  readonly #leases = new Map<string, Lease>();
  /** Queued leases, oldest first. */
  readonly #queue = new Set<Lease>();
  /** Held leases, for the lapse sweep. */
  readonly #held = new Set<Lease>();
  /** Ended leases in the order they ended, for pruning. */
  readonly #ended: Lease[] = [];
  readonly #runners = new Map<string, RunnerRecord>();
  /** The waking of waiting polls, due at the end of this turn (see #wake). */
  #wakeSoon: NodeJS.Immediate | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #starting = new Map<string, Promise<ExecutionHandle>>();
  /** Cancels asked during adoption for handles no runner listed yet. */
  readonly #pendingCancels = new Set<string>();
  /** The exits told to `onExit` listeners, a turn of the event loop at a time (see ExitPushes). */
  readonly #pushes: ExitPushes;
  /** Result records the server stored for held leases' runners, by execution: carried with the exit (ADR 0060). */
  readonly #storedResults = new Map<string, ResultRecord>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(settings: RunnerExecutorSettings = {}) {
    this.#settings = parseSettings(runnerExecutorSettingsSchema, settings, 'runner.executor');
    this.#storage = settings.storage;
    this.#logger = settings.logger;
    this.#pushes = new ExitPushes(settings.logger);
    this.#now = settings.now ?? Date.now;
    this.#adoptionEndsAt = this.#now() + this.#settings.leaseMs;
    // Lapses are found by every call too; the timer only makes their pushes timely when nothing calls.
    this.#sweeper = setInterval(() => this.#sweep(this.#now()), Math.max(5, Math.floor(this.#settings.leaseMs / 4)));
    this.#sweeper.unref();
  }

  /** Queues a lease for the task (idempotent per execution id); its `labels` (the item's `runsOn.labels`) choose its runners. */
  async start(task: TaskEnvelope): Promise<ExecutionHandle> {
    const parsed = runnerTaskEnvelopeSchema.safeParse(task);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        `[cairn] [runner] the task cannot be queued: ${['task', ...issue.path].join('.')} ${issue.message}.`,
        {
          path: ['task', ...issue.path].join('.'),
        },
      );
    }
    const known = this.#leases.get(task.executionId);
    if (known !== undefined) return this.#knownStart(known, task);
    const starting = this.#starting.get(task.executionId);
    if (starting !== undefined) return starting;
    const started = this.#queueLease(task).finally(() => this.#starting.delete(task.executionId));
    this.#starting.set(task.executionId, started);
    return started;
  }

  async #queueLease(task: TaskEnvelope): Promise<ExecutionHandle> {
    // A book that did not see an exit (a restart in between) must not run the attempt again.
    const recorded = this.#storage === undefined ? undefined : await recordedStatus(this.#storage, task.executionId);
    const known = this.#leases.get(task.executionId);
    if (known !== undefined) return this.#knownStart(known, task);
    const now = this.#now();
    const lease: Lease = {
      executionId: task.executionId,
      task,
      manifestDigest: task.manifestDigest,
      labels: task.labels ?? [],
      state: 'queued',
      heartbeatAt: now,
      cancelRequested: false,
    };
    this.#leases.set(task.executionId, lease);
    if (recorded !== undefined) {
      this.#end(lease, recorded, now, false);
    } else {
      this.#queue.add(lease);
      this.#wake();
    }
    return handleOf(lease);
  }

  /** A start for a lease the book has: the same handle; an adopted lease learns its envelope. */
  #knownStart(lease: Lease, task: TaskEnvelope): ExecutionHandle {
    if (lease.task === undefined && lease.state === 'held') {
      lease.task = task;
      lease.manifestDigest = task.manifestDigest;
    }
    return handleOf(lease);
  }

  async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const executionId = executionIdOf(handle);
    this.#sweep(this.#now());
    const known = this.#statusOf(executionId, handle);
    if (known !== undefined) return known;
    const recorded = this.#storage === undefined ? undefined : await recordedStatus(this.#storage, executionId);
    const now = this.#now();
    const again = this.#statusOf(executionId, handle);
    if (again !== undefined) return again;
    if (recorded !== undefined) {
      const lease: Lease = { executionId, labels: [], state: 'queued', heartbeatAt: now, cancelRequested: false, ...manifestOf(handle) };
      this.#leases.set(executionId, lease);
      this.#end(lease, recorded, now, false);
      return { ...recorded };
    }
    if (now < this.#adoptionEndsAt && (await this.#mayBeHeld(handle, executionId))) return { state: 'running' };
    return { state: 'unknown', reason: 'no runner holds it: the lease book does not know this execution' };
  }

  /** The status of an execution the book has (also filling in an adopted lease's manifest from the handle). */
  #statusOf(executionId: string, handle: ExecutionHandle): ExecutionStatus | undefined {
    const lease = this.#leases.get(executionId);
    if (lease === undefined) return undefined;
    if (lease.manifestDigest === undefined) Object.assign(lease, manifestOf(handle));
    if (lease.state === 'queued' || lease.state === 'held') return { state: 'running' };
    return { ...lease.status! };
  }

  /** Whether a handle this book does not know was issued for its execution (so a runner may hold it). */
  async #mayBeHeld(handle: ExecutionHandle, executionId: string): Promise<boolean> {
    if (this.#storage === undefined) return true;
    const digest = handle['manifestDigest'];
    return typeof digest === 'string' && (await manifestNames(this.#storage, digest, executionId));
  }

  async cancel(handle: ExecutionHandle): Promise<void> {
    const executionId = executionIdOf(handle);
    const now = this.#now();
    this.#sweep(now);
    const lease = this.#leases.get(executionId);
    if (lease === undefined) {
      if (now < this.#adoptionEndsAt) this.#pendingCancels.add(executionId);
      return;
    }
    if (lease.state === 'queued') {
      this.#queue.delete(lease);
      this.#end(lease, { state: 'exited', outcome: 'cancelled', reason: 'cancelled before a runner took it' }, now, true);
    } else if (lease.state === 'held' && !lease.cancelRequested) {
      lease.cancelRequested = true;
      this.#wake();
    }
  }

  onExit(listener: (executionId: string, status: ExecutionStatus) => void): () => void {
    return this.#pushes.listen(listener);
  }

  /**
   * A runner's poll: records the runner, heartbeats the leases it lists (adopting, during the first
   * `leaseMs` of this book, those it does not know), and answers with leases its labels fit, up to
   * its free slots, oldest first, and with the held ids it must stop. With neither, it waits up to
   * `waitMs` (at most `pollWaitMs`) for some; it answers empty when `signal` aborts.
   */
  async poll(runner: RunnerIdentity, request: RunnerPollRequest, signal: AbortSignal): Promise<RunnerPollAnswer> {
    const body = parsePayload(runnerPollRequestSchema, request, `the poll of runner ${runner.name}`);
    const now = this.#now();
    this.#sweep(now);
    // Taken now, before the poll waits: the engine hears of them at once, whenever the poll is answered.
    const exits = body.exits === undefined ? undefined : this.#takeExits(runner.name, body.exits, now);
    const answered = (answer: RunnerPollAnswer): RunnerPollAnswer => (exits === undefined ? answer : { ...answer, exits });
    const record = this.#runnerRecord(runner.name, now);
    record.version = body.version;
    record.labels = new Set(body.labels);
    record.slots = body.slots;
    record.lastSeen = now;
    const revoked: string[] = [];
    for (const executionId of body.held) {
      const lease = this.#leases.get(executionId);
      if (lease?.state === 'held' && lease.runner === record.name) {
        lease.heartbeatAt = now;
      } else if (lease?.state === 'queued' || (lease === undefined && now < this.#adoptionEndsAt)) {
        this.#adopt(executionId, lease, record, now);
      } else {
        revoked.push(executionId);
      }
    }
    // One poll at a time per runner: an older one still waiting is answered empty.
    record.waiting?.finish(this.#emptyAnswer(record));
    const answer = this.#offer(record, body.slots, revoked, now);
    const waitMs = Math.min(body.waitMs ?? this.#settings.pollWaitMs, this.#settings.pollWaitMs);
    // A poll that reports exits and takes no work (a draining runner) would wait for cancels only: its runner waits for the answer to let its exits go.
    const noWait = waitMs === 0 || (exits !== undefined && body.slots === 0);
    if (answer.leases.length > 0 || answer.cancel.length > 0 || noWait || signal.aborted || this.#closed) return answered(answer);
    return new Promise<RunnerPollAnswer>((resolve) => {
      const finish = (result: RunnerPollAnswer) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
        if (record.waiting === waiter) delete record.waiting;
        resolve(answered(result));
      };
      const waiter: Waiter = { runner: record, slots: body.slots, finish };
      const onAbort = () => finish(this.#emptyAnswer(record));
      const timer = setTimeout(() => finish(this.#offer(record, 0, [], this.#now())), waitMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      record.waiting = waiter;
    });
  }

  /**
   * A runner's report of ended attempts: each exit of a lease it holds is accepted (and pushed to
   * `onExit` listeners); others are refused with the reason. Reporting an accepted exit again is
   * accepted again, unchanged.
   */
  reportExits(runner: RunnerIdentity, exits: readonly RunnerExit[]): RunnerExitsAnswer {
    const body = parsePayload(runnerExitsRequestSchema, { exits }, `the exits of runner ${runner.name}`);
    const now = this.#now();
    this.#sweep(now);
    return this.#takeExits(runner.name, body.exits, now);
  }

  /** Ends the leases of the exits `runnerName` reports (in an exits report or a poll), and says which it took. */
  #takeExits(runnerName: string, exits: readonly RunnerExit[], now: number): RunnerExitsAnswer {
    const accepted: string[] = [];
    const refused: { executionId: string; reason: string }[] = [];
    for (const { executionId, status } of exits) {
      let lease = this.#leases.get(executionId);
      if ((lease === undefined || lease.state === 'queued') && now < this.#adoptionEndsAt) {
        // An exit is a runner saying it held the attempt, as a listing in a poll would.
        lease = this.#adopt(executionId, lease, this.#runnerRecord(runnerName, now), now);
      }
      if (lease?.runner !== runnerName) {
        refused.push({ executionId, reason: 'not held by this runner' });
      } else if (lease.state === 'held') {
        const result = this.#storedResults.get(executionId);
        this.#storedResults.delete(executionId);
        this.#end(lease, result === undefined ? status : { ...status, result }, now, true);
        // Pushed with the record; kept without it (an ended lease stays for 15 minutes, the engine has the record).
        if (result !== undefined) lease.status = status;
        accepted.push(executionId);
      } else if (lease.state === 'exited') {
        accepted.push(executionId);
      } else {
        refused.push({ executionId, reason: `lease lapsed at ${new Date(lease.endedAt!).toISOString()}` });
      }
    }
    if (refused.length > 0) this.#logger?.warn({ runner: runnerName, refused }, 'runner exits refused');
    return { accepted, refused };
  }

  /** Whether `runnerName` holds a live lease on `executionId` now: what its storage reads and writes are allowed by. */
  holds(runnerName: string, executionId: string): boolean {
    this.#sweep(this.#now());
    const lease = this.#leases.get(executionId);
    return lease?.state === 'held' && lease.runner === runnerName;
  }

  /** The execution ids `runnerName` holds live leases on now: what its reads of manifests and blobs are allowed by. */
  heldBy(runnerName: string): string[] {
    this.#sweep(this.#now());
    return [...(this.#runners.get(runnerName)?.held ?? [])].filter((lease) => lease.state === 'held').map((lease) => lease.executionId);
  }

  /** Whether `runnerName` held `executionId` until its lease lapsed: a write for it now is a late result. */
  lapsed(runnerName: string, executionId: string): boolean {
    this.#sweep(this.#now());
    const lease = this.#leases.get(executionId);
    return lease?.state === 'lapsed' && lease.runner === runnerName;
  }

  /**
   * The server stored `bytes` as the result record of `executionId`, put by `runnerName` through its
   * storage route: kept while the runner holds the lease, and carried with the exit it reports
   * (ADR 0060), so the engine does not read it back. Never a runner's word: only what the server
   * itself stored and checked; a runner's exit report cannot carry a record.
   */
  resultStored(runnerName: string, executionId: string, bytes: Uint8Array): void {
    if (!this.holds(runnerName, executionId)) return;
    const record = resultRecordOf(bytes, executionId);
    if (record === undefined) return;
    this.#storedResults.set(executionId, record);
    if (this.#storedResults.size <= keptStoredResults) return;
    for (const kept of this.#storedResults.keys()) if (this.#leases.get(kept)?.state !== 'held') this.#storedResults.delete(kept);
  }

  /** The manifest digest of an execution in the book (unknown for a lease adopted after a restart until the engine inspects its handle). */
  manifestDigestOf(executionId: string): Digest | undefined {
    return this.#leases.get(executionId)?.manifestDigest;
  }

  /** The runners that polled this book, by name. */
  runners(): RunnerSummary[] {
    const now = this.#now();
    this.#sweep(now);
    return [...this.#runners.values()].map((record) => this.#summaryOf(record, now)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Gives `runnerName` no new leases (cordons it) until `undrain`; the leases it holds stay its
   * own, heartbeated and reported as before, and its poll answers carry `drain: true` so that it
   * knows. A poll waiting now is answered at once. Undefined (and nothing changes) when no runner
   * of that name polled this book: the drain is the book's, in memory, and a new book forgets it.
   */
  drain(runnerName: string): RunnerSummary | undefined {
    return this.#setDraining(runnerName, true);
  }

  /** Gives `runnerName` leases again after a `drain`; its waiting poll is answered at once, so that it offers its slots again. Undefined for a runner the book does not know. */
  undrain(runnerName: string): RunnerSummary | undefined {
    return this.#setDraining(runnerName, false);
  }

  #setDraining(runnerName: string, draining: boolean): RunnerSummary | undefined {
    const now = this.#now();
    this.#sweep(now);
    const record = this.#runners.get(runnerName);
    if (record === undefined) return undefined;
    if (record.draining !== draining) {
      record.draining = draining;
      this.#logger?.info({ runner: runnerName, held: record.held.size }, draining ? 'runner drained: no new leases' : 'runner resumed: leases again');
      // Its waiting poll learns it now; draining, it offers no slots from its next poll on.
      record.waiting?.finish(this.#offer(record, 0, [], now));
    }
    return this.#summaryOf(record, now);
  }

  #summaryOf(record: RunnerRecord, now: number): RunnerSummary {
    const connected = record.waiting !== undefined || now - record.lastSeen < this.#settings.leaseMs;
    return {
      name: record.name,
      version: record.version,
      labels: [...record.labels].sort(),
      slots: record.slots,
      held: record.held.size,
      lastSeen: new Date(record.lastSeen).toISOString(),
      state: connected ? 'connected' : 'lost',
      draining: record.draining,
    };
  }

  /** Stops the lapse timer and answers waiting polls empty (the server is closing). The book stays readable. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    // Leases queued this turn still go to the polls waiting for them, as they would have a moment later.
    if (this.#wakeSoon !== undefined) {
      clearImmediate(this.#wakeSoon);
      this.#wakeSoon = undefined;
      this.#wakeNow();
    }
    for (const waiter of [...this.#waiters]) waiter.finish(this.#emptyAnswer(waiter.runner));
    // Exits taken this turn are told now, as they would have been a moment later.
    this.#pushes.flush();
  }

  #runnerRecord(name: string, now: number): RunnerRecord {
    let record = this.#runners.get(name);
    if (record === undefined) {
      record = { name, version: '', labels: new Set(), slots: 0, lastSeen: now, held: new Set(), draining: false };
      this.#runners.set(name, record);
    }
    return record;
  }

  /** Makes `record`'s runner the holder of an execution it says it runs: after a restart, or one queued here again. */
  #adopt(executionId: string, known: Lease | undefined, record: RunnerRecord, now: number): Lease {
    const lease: Lease = known ?? { executionId, labels: [], state: 'queued', heartbeatAt: now, cancelRequested: false };
    this.#queue.delete(lease);
    this.#leases.set(executionId, lease);
    lease.state = 'held';
    lease.runner = record.name;
    lease.heartbeatAt = now;
    lease.cancelRequested ||= this.#pendingCancels.delete(executionId);
    record.held.add(lease);
    this.#held.add(lease);
    this.#logger?.info({ runner: record.name, executionId }, 'lease adopted');
    return lease;
  }

  /** An answer with nothing to do; `drain` while the runner is drained. */
  #emptyAnswer(record: RunnerRecord): RunnerPollAnswer {
    return { leases: [], cancel: [], leaseMs: this.#settings.leaseMs, ...(record.draining ? { drain: true as const } : {}) };
  }

  /** Hands `record`'s runner the queued leases it fits, up to `slots` (none while it is drained), and lists what it must stop. */
  #offer(record: RunnerRecord, slots: number, revoked: readonly string[], now: number): RunnerPollAnswer {
    const leases: RunnerLease[] = [];
    if (slots > 0 && !record.draining) {
      const leasedAt = new Date(now).toISOString();
      for (const lease of this.#queue) {
        if (leases.length >= slots) break;
        if (!labelsFit(lease.labels, record.labels)) continue;
        this.#queue.delete(lease);
        lease.state = 'held';
        lease.runner = record.name;
        lease.heartbeatAt = now;
        record.held.add(lease);
        this.#held.add(lease);
        const { labels: _labels, ...task } = lease.task!;
        leases.push({ executionId: lease.executionId, task, labels: [...lease.labels], leasedAt });
      }
      record.slots = Math.max(0, record.slots - leases.length);
    }
    const cancel = [...revoked];
    for (const lease of record.held) if (lease.cancelRequested) cancel.push(lease.executionId);
    return { ...this.#emptyAnswer(record), leases, cancel };
  }

  /** Answers the waiting polls that now have something: a lease their labels fit, a cancel. */
  /**
   * Answers the waiting polls that now have something, once the current turn is over: a dispatch
   * pass starts many attempts at once, and each waiting runner is answered with all it can take of
   * them, not with the first (answered per start, 50 waiting runners got 1.3 leases an answer and
   * doubled the server's work per item; bench/runners.bench.ts).
   */
  #wake(): void {
    this.#wakeSoon ??= setImmediate(() => {
      this.#wakeSoon = undefined;
      this.#wakeNow();
    });
  }

  #wakeNow(): void {
    const now = this.#now();
    for (const waiter of [...this.#waiters]) {
      const answer = this.#offer(waiter.runner, waiter.slots, [], now);
      if (answer.leases.length > 0 || answer.cancel.length > 0) waiter.finish(answer);
    }
  }

  /** Lapses held leases not heartbeated for `leaseMs`, and forgets leases that ended long ago. */
  #sweep(now: number): void {
    if (now >= this.#adoptionEndsAt) this.#pendingCancels.clear();
    for (const lease of this.#held) {
      if (now - lease.heartbeatAt < this.#settings.leaseMs) continue;
      const lapsedTime = lease.heartbeatAt + this.#settings.leaseMs;
      const lapsedAt = new Date(lapsedTime).toISOString();
      this.#logger?.warn({ runner: lease.runner, executionId: lease.executionId, lapsedAt }, 'lease lapsed');
      if (lease.cancelRequested) {
        this.#end(
          lease,
          { state: 'exited', outcome: 'cancelled', reason: `cancelled; its lease lapsed at ${lapsedAt} before runner ${lease.runner} reported the exit` },
          lapsedTime,
          true,
        );
      } else {
        lease.state = 'lapsed';
        this.#end(lease, { state: 'unknown', reason: `lease lapsed at ${lapsedAt}: runner ${lease.runner} stopped listing it` }, lapsedTime, true);
      }
    }
    while (this.#ended.length > 0 && now - this.#ended[0]!.endedAt! >= endedRetentionMs) {
      const lease = this.#ended.shift()!;
      if (this.#leases.get(lease.executionId) === lease) this.#leases.delete(lease.executionId);
    }
  }

  /** Ends a lease at `endedAt` with `status` (exited, or unknown for a lapse) and, when `push`, tells the exit listeners. */
  #end(lease: Lease, status: ExecutionStatus, endedAt: number, push: boolean): void {
    if (lease.state !== 'lapsed') lease.state = 'exited';
    lease.status = status;
    lease.endedAt = endedAt;
    lease.cancelRequested = false;
    this.#held.delete(lease);
    if (lease.runner !== undefined) this.#runners.get(lease.runner)?.held.delete(lease);
    this.#ended.push(lease);
    if (push) this.#pushes.push(lease.executionId, status);
  }
}

/** Builds the runners executor. */
export function createRunnerExecutor(settings: RunnerExecutorSettings = {}): RunnerExecutor {
  return new RunnerExecutor(settings);
}
