import type { AuditActor, CairnEvent, EvidenceBundleV1, ExecutionStatus, ExecutorV1, RunSpecV1 } from '@cairn/core';
import { assertRunSpec, CairnError, isCairnError, isTerminalState, parseRunSpec, parseSettings, runTransitions } from '@cairn/protocol';
import { engineSettingsSchema, type EngineSettings, type ResolvedEngineSettings } from './engine-settings.ts';
import { AuditLog } from './audit/audit-log.ts';
import type { EngineAuditLog } from './audit/engine-audit-log.ts';
import { readOnlyAuditLog } from './audit/read-only-audit-log.ts';
import type { EngineDatabase } from './database/engine-database.ts';
import { openEngineDatabase } from './database/open-engine-database.ts';
import { Checkpointer, type SignerTakeOver } from './audit/checkpointer.ts';
import { SigningKeyRecords } from './audit/signing-key-records.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { DelegatedManifestSigner } from './dispatch/delegated-manifest-signer.ts';
import type { ItemAttemptRecord } from './dispatch/attempt-store.ts';
import type { ItemRecord, RunRecord } from './state/run-records.ts';
import { RunHistory, type RunListOptions, type RunPage } from './state/run-history.ts';
import { RunStateMachine, type SubmitOptions, type SubmitResult } from './state/run-state-machine.ts';
import { SecretStore, type SecretRecord } from './secrets/secret-store.ts';
import { eventStream } from './events/event-stream.ts';
import { EvidenceExporter } from './audit/evidence-exporter.ts';
import { StateCountsReader } from './state/state-counts.ts';
import { InboxIngester } from './inbox/inbox-ingester.ts';
import { ScheduleBook, type ScheduleDefinition, type ScheduleRecord } from './schedules/schedule-book.ts';
import { storageFullReason } from './database/storage-full.ts';
import { retryDelay } from './dispatch/retry-delay.ts';
import type { EngineHealth } from './engine-health.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import type { EngineEventsOptions, EngineService } from './engine-service.ts';
import { InProcessEngineService } from './in-process-engine-service.ts';
import { hostAuditDraft } from './host-audit/host-audit-draft.ts';
import { hostAuditWriterOver } from './host-audit/host-audit-writer-over.ts';
import { committedByTransactions, type GroupCommit } from './store/group-commit.ts';

// The engine's settings come with it: whoever builds an engine imports them from here.
export { engineSettingsSchema, type EngineSettings } from './engine-settings.ts';

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
/**
 * The WAL pages after which a commit checkpoints the WAL into the database file (SQLite's default
 * is 1,000). Each checkpoint costs two fsyncs in the middle of whatever the engine is doing: at
 * 1,000 pages a chain of 1,000 quick items made 44 of them, one every twenty-odd hops, most of the
 * hop's p99. The WAL holds up to about 40 MB between checkpoints (a checkpoint copies only the
 * pages written since, which are far fewer).
 */
const walAutoCheckpointPages = 10_000;
/** Between tries while the disk is full: 100 ms, 200 ms, 400 ms ... up to 5 s. */
const storageFullBackoff = { initial: '100ms', factor: 2, max: '5s', jitter: false } as const;

/**
 * The engine: submissions in, dispatched tasks out, everything recorded. `start()` runs its loop,
 * which is event-driven: a submit, an approval, a cancel or a pushed task exit wakes it at once,
 * and it otherwise sleeps until the next retry is due or the reconcile interval for executors that
 * cannot push completions. On start it recovers attempts a previous process left behind.
 */
export class Engine {
  /**
   * The audit log, to read: entries, queries, the Merkle tree. It has no `append`: the engine writes
   * its own entries, and a host writes the few it owns through `service().hostAudit`.
   */
  readonly audit: EngineAuditLog;
  readonly #audit: AuditLog;
  readonly #database: EngineDatabase;
  readonly #machine: RunStateMachine;
  readonly #dispatcher: Dispatcher;
  readonly #checkpointer: Checkpointer;
  readonly #secrets: SecretStore | undefined;
  readonly #counts: StateCountsReader;
  readonly #history: RunHistory;
  readonly #schedules: ScheduleBook;
  readonly #inbox: InboxIngester;
  /** The inbox poll in flight (it runs beside the loop: slow storage must not hold the loop up). */
  #inboxPoll: Promise<unknown> | undefined;
  #lastInboxPoll = 0;
  readonly #evidence: EvidenceExporter;
  readonly #settings: ResolvedEngineSettings;
  readonly #commit: GroupCommit;
  readonly #executors: Readonly<Record<string, ExecutorV1>>;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #runWaiters = new Map<string, ((run: RunRecord) => void)[]>();
  #wake: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;
  #running = false;
  /** A cancel asked for running tasks to stop: the loop tells their executors at once. */
  #stopsRequested = false;
  #health: EngineHealth = { ready: true, since: new Date().toISOString() };
  /** Loop turns that failed in a row for a full disk (the backoff grows with them). */
  #storageFullTries = 0;
  #service: EngineService | undefined;
  /** Starts of earlier passes waiting for the commit of their dispatches (they never reject: see `#handOff`). */
  readonly #handedOff = new Set<Promise<void>>();
  /** Whether the loop's anchoring is under way (`#anchorInBackground`). */
  #anchoringInBackground = false;
  /** Why work the loop handed off (a pass's starts, a turn's commit, anchoring) failed: the next turn throws it. */
  #handedOffFailure: { error: unknown } | undefined;

  constructor(settings: EngineSettings) {
    const parsed = parseSettings(engineSettingsSchema, settings, 'engine');
    this.#settings = parsed;
    this.#commit = parsed.commit ?? committedByTransactions;
    this.#executors = settings.executors;
    // The settings as given, typed by their seams: parsing checked them and kept each object as it was.
    this.#database = typeof settings.database === 'string' ? openEngineDatabase(settings.database) : settings.database;
    this.#database.pragma(`wal_autocheckpoint = ${walAutoCheckpointPages}`);
    const now = parsed.now ?? Date.now;
    this.#audit = new AuditLog(this.#database, { now });
    this.audit = readOnlyAuditLog(this.#audit);
    this.#machine = new RunStateMachine(this.#database, this.#audit, {
      now,
      defaultExecutor: parsed.defaultExecutor ?? Object.keys(settings.executors)[0]!,
      approvalTimeoutMs: parsed.approvalTimeoutMs,
    });
    this.#secrets = settings.cipher ? new SecretStore({ database: this.#database, audit: this.#audit, cipher: settings.cipher, now }) : undefined;
    this.#counts = new StateCountsReader(this.#database);
    this.#history = new RunHistory(this.#database);
    this.#schedules = new ScheduleBook({
      database: this.#database,
      audit: this.#audit,
      now,
      validate: (spec) =>
        assertRunSpec(typeof spec === 'string' ? parseRunSpec(spec) : spec, { source: "The schedule's spec", context: this.#submitContext() }).spec,
      // A schedule is made by an admin, and its spec cannot change after: its runs hold the secrets that spec names.
      submit: (spec, options) => this.#machine.submit(spec, { ...options, secretGrants: 'all', context: this.#submitContext() }),
      runState: (runId) => this.#machine.run(runId)?.state,
      cancelRun: (runId, actor) => this.cancelRun(runId, actor),
    });
    this.#inbox = new InboxIngester({
      storage: settings.storage,
      // Whoever can write to storage can drop a spec: the inbox grants no secret. The file is
      // removed once its run is durable, never before.
      submit: async (text, options) => {
        const result = this.submit(text, { ...options, secretGrants: [] });
        await this.#commit();
        return result;
      },
      now,
      ...(parsed.logger ? { logger: parsed.logger } : {}),
    });
    this.#dispatcher = new Dispatcher({
      database: this.#database,
      audit: this.#audit,
      machine: this.#machine,
      executors: settings.executors,
      storage: settings.storage,
      signer:
        parsed.manifestSigner === 'delegated'
          ? new DelegatedManifestSigner({ signer: settings.signer, storage: settings.storage, audit: this.#audit, now })
          : settings.signer,
      concurrency: parsed.concurrency,
      queues: parsed.queues,
      timeoutGraceMs: parsed.timeoutGraceMs,
      now,
      commit: this.#commit,
      ...(this.#secrets ? { secrets: this.#secrets } : {}),
      ...(parsed.observer ? { observer: parsed.observer } : {}),
    });
    const signingKeys = new SigningKeyRecords(this.#database);
    this.#checkpointer = new Checkpointer({
      database: this.#database,
      audit: this.#audit,
      signer: settings.signer,
      ...(settings.previousSigner ? { previousSigner: settings.previousSigner } : {}),
      anchors: settings.anchors ?? [],
      ...parsed.checkpoints,
      now,
      commit: this.#commit,
      ...(parsed.observer ? { observer: parsed.observer } : {}),
    });
    this.#evidence = new EvidenceExporter({
      audit: this.#audit,
      machine: this.#machine,
      checkpointer: this.#checkpointer,
      signingKeys,
      storage: settings.storage,
      signers: settings.previousSigner ? [settings.signer, settings.previousSigner] : [settings.signer],
    });
  }

  /**
   * The evidence bundle of a run, against the first checkpoint that covers all its entries
   * (anchored ones first). Throws CAIRN_NOT_FOUND for an unknown run and CAIRN_BUNDLE_INVALID
   * while no checkpoint covers it yet (the engine issues one when a run ends).
   */
  exportBundle(runId: string): Promise<EvidenceBundleV1> {
    return this.#evidence.exportBundle(runId);
  }

  /**
   * Validates and stores a run (see `RunStateMachine.submit`); the loop picks it up at once. An
   * item naming an executor, a queue or a secret that does not exist is refused here.
   */
  submit(document: unknown, options: SubmitOptions): SubmitResult {
    const result = this.#writing(() => this.#machine.submit(document, { context: this.#submitContext(), ...options }));
    this.#poke();
    return result;
  }

  /** Approves an item awaiting approval; `reason` is kept in the `item.approved` audit entry. */
  approve(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.approveItem(runId, itemId, actor, reason));
    this.#poke();
  }

  /** Rejects an item awaiting approval: it fails with `reason`, and what depends on it is skipped. */
  reject(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.rejectItem(runId, itemId, actor, reason));
    this.#notifyIfEnded(runId);
    this.#poke();
  }

  /**
   * Cancels a run: what has not started at once, running tasks through their executors. `reason`
   * is stored with the request and carried by the cancellation's audit entries.
   */
  cancelRun(runId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.cancelRun(runId, actor, reason));
    this.#stopsRequested = true;
    this.#notifyIfEnded(runId);
    this.#poke();
  }

  /** Cancels one item (a running one through its executor); its dependents are skipped. */
  cancelItem(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.cancelItem(runId, itemId, actor, reason));
    this.#stopsRequested = true;
    this.#notifyIfEnded(runId);
    this.#poke();
  }

  /**
   * Adds a cron schedule whose slots submit `definition.spec` as runs `<scheduleId>@<slot time>`
   * (see `ScheduleBook.add`); the loop fires due slots.
   */
  addSchedule(definition: ScheduleDefinition, actor: AuditActor): ScheduleRecord {
    const schedule = this.#writing(() => this.#schedules.add(definition, actor));
    this.#poke();
    return schedule;
  }

  removeSchedule(scheduleId: string, actor: AuditActor): void {
    this.#writing(() => this.#schedules.remove(scheduleId, actor));
  }

  schedules(): ScheduleRecord[] {
    return this.#schedules.list();
  }

  /** Sets a secret (encrypted through the configured cipher); returns its name and new version. */
  async setSecret(name: string, value: string, actor: AuditActor): Promise<SecretRecord> {
    return this.#requireSecrets().set(name, value, actor);
  }

  removeSecret(name: string, actor: AuditActor): void {
    this.#requireSecrets().remove(name, actor);
  }

  /** Names and versions of the secrets; values are never read back. */
  secrets(): SecretRecord[] {
    return this.#secrets?.list() ?? [];
  }

  /**
   * Events after `after` (an event id, which is the audit sequence; -1 for all), in order, as they
   * happen: a client that reconnects with the last id it saw misses nothing and sees nothing twice.
   * Each subscriber reads at its own pace from the database, so a slow one holds no buffer and
   * never stalls the engine. Ends when `signal` aborts, or once caught up when `follow` is false.
   */
  events(options: EngineEventsOptions = {}): AsyncGenerator<CairnEvent> {
    return eventStream(this.#audit, options);
  }

  /**
   * Whether the engine can do its work now, and if not why and since when (what `/readyz`
   * reports). Not ready while the disk under its database is full: see `EngineHealth`.
   */
  health(): EngineHealth {
    return this.#health;
  }

  /** Counts by state, queue depth, live attempts and how far anchoring trails: what `/metrics` exposes. */
  metrics(): EngineMetrics {
    return { ...this.#counts.read(), auditEntries: this.#audit.size, ...this.#checkpointer.lag() };
  }

  /**
   * What a host (the server) uses of this engine, every read and command asynchronous, with a
   * writer for the audit entries the host owns: the seam a replica whose engine runs elsewhere
   * implements too (`EngineService`). The same object each call.
   */
  service(): EngineService {
    this.#service ??= new InProcessEngineService(
      this,
      // A host entry is a write asked for from outside: a full disk fails it as CAIRN_ENGINE_STORAGE_FULL.
      hostAuditWriterOver(async (record) => {
        const draft = hostAuditDraft(record);
        this.#writing(() => this.#audit.append(draft));
      }),
    );
    return this.#service;
  }

  run(runId: string): RunRecord | undefined {
    return this.#machine.run(runId);
  }

  /**
   * Runs newest first, a page at a time (`limit`, 50 by default), optionally filtered by state,
   * exact name, submitter and submit time; pass a page's `nextCursor`, with the same filters, for the
   * next. Throws CAIRN_PAYLOAD_INVALID naming the option that is wrong.
   */
  runs(options: RunListOptions = {}): RunPage {
    return this.#history.page(options);
  }

  items(runId: string): ItemRecord[] {
    return this.#machine.items(runId);
  }

  /** The run's spec as it was submitted (canonical form): its items and their dependencies; undefined for an unknown run. */
  spec(runId: string): RunSpecV1 | undefined {
    return this.#machine.spec(runId);
  }

  /** What a succeeded item produced (kind → digest: patch, stdout, stderr, output), if it did. */
  artifacts(runId: string, itemId: string): Readonly<Record<string, string>> | undefined {
    return this.#machine.artifacts(runId, itemId);
  }

  /**
   * The item's attempts, first to last, each with how it ended and, when it did not succeed, its
   * `failure` (code, message, exit code, signal, refusal rule, the end of its stderr). Empty for an
   * item that never ran (its own `failure` then says why, when it failed) or an unknown one.
   */
  attempts(runId: string, itemId: string): ItemAttemptRecord[] {
    return this.#machine.attempts(runId, itemId);
  }

  /** Resolves with the run once it has ended; rejects with CAIRN_NOT_FOUND for an unknown run. */
  waitForRun(runId: string): Promise<RunRecord> {
    if (!this.#machine.run(runId)) return Promise.reject(new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { details: { runId } }));
    const ended = this.#endedRun(runId);
    if (ended) return Promise.resolve(ended);
    return new Promise((resolve) => this.#runWaiters.set(runId, [...(this.#runWaiters.get(runId) ?? []), resolve]));
  }

  /**
   * Checks the signer against the key the audit log is signed with, once: the same key passes; a
   * new key with `previousSigner` of the log's key is handed over to (a `signer.rotated` entry
   * signed by the old key, ADR 0019); any other key rejects with CAIRN_CONFIG_INVALID naming both
   * keys. The loop does this before it signs anything (and stops, not ready, if it fails); call it
   * before `start()` to refuse at once.
   */
  checkSigner(): Promise<SignerTakeOver> {
    return this.#checkpointer.takeOver();
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
    this.#poke();
    await this.#loop;
    await this.#inboxPoll;
  }

  /** Stops and closes the database (when the engine opened it). */
  async close(): Promise<void> {
    await this.stop();
    if (typeof this.#settings.database === 'string') this.#database.close();
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
          this.#health = { ready: false, reason: `signer refused: ${reason}`, since: new Date().toISOString() };
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
        const wasFull = !this.#health.ready;
        if (wasFull) this.#probeStorage();
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
        if (wasFull) this.#storageHasRoom();
        if (recovering) {
          // Recovery starts attempts left dispatching: never one whose start a pass still has on the way.
          await Promise.all(this.#handedOff);
          recovering = (await this.#dispatcher.recover()) > 0;
        }
        const now = Date.now();
        ended += this.#machine.expireApprovals() + this.#schedules.fireDue();
        this.#pollInboxIfDue();
        if (this.#stopsRequested) {
          // Attempts whose start is still on its way are stopped by a later turn (their start pokes it).
          this.#stopsRequested = (await this.#dispatcher.stopDue()) > 0;
        }
        if (now - lastReconcile >= this.#settings.reconcileIntervalMs) {
          reconciles++;
          ended += await this.#dispatcher.reconcile({ skipPushing: reconciles % pushedInspectionEvery !== 0 });
          lastReconcile = now;
        }
        const started = await this.#dispatch();
        await this.#checkpointer.issueIfDue();
        this.#anchorInBackground();
        // The turn's writes go in the next group commit (readers of the state store see them once it
        // lands). Only effects wait for it, each on its own: the loop does not.
        this.#handOff(this.#commit());
        // What failed after the loop had moved on (a pass's starts, an earlier turn's commit) fails
        // this turn, where the loop used to wait for them.
        const failure = this.#handedOffFailure;
        this.#handedOffFailure = undefined;
        if (failure) throw failure.error;
        this.#notifyWaiters();
        // A whole turn went through: a full disk (here or under a seam) is behind us.
        this.#storageFullTries = 0;
        if (ended > 0 || started > 0) {
          // Busy: go round again, but through the event loop, so timers and I/O (an HTTP server in
          // the same process, an executor's child processes) are never starved by a long run.
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        await this.#sleep(this.#sleepMs(lastReconcile));
      } catch (error) {
        // Whatever a failed step wrote was rolled back with its transaction; what it decided but
        // did not write (the start of a task, an exit) is decided again: dispatched attempts whose
        // start was not recorded are re-started with the same execution id (executors start each
        // id once), and pushed exits stay queued in the dispatcher.
        recovering = true;
        if (this.#storageFull(error)) {
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
    await Promise.all(this.#handedOff);
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
    this.#handOff(
      this.#checkpointer.anchorDue().finally(() => {
        this.#anchoringInBackground = false;
      }),
    );
  }

  // Keeps work the loop did not wait for until it settles; a failure is thrown at the end of the
  // next turn (which it wakes), so it is handled as the turn's own.
  #handOff(work: Promise<unknown>): void {
    const settled: Promise<void> = work
      .then(
        () => {},
        (error: unknown) => {
          this.#handedOffFailure ??= { error };
          this.#poke();
        },
      )
      .finally(() => this.#handedOff.delete(settled));
    this.#handedOff.add(settled);
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
    if (pass.moved > 0) this.#handOff(pass.started.then(() => this.#poke()));
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

  #sleepMs(lastReconcile: number): number {
    const untilReconcile = lastReconcile + this.#settings.reconcileIntervalMs - Date.now();
    const until = (time: string | null) => (time === null ? Infinity : Date.parse(time) - Date.now());
    const { inboxPollMs } = this.#settings;
    const untilInbox = inboxPollMs === false || this.#inboxPoll ? Infinity : this.#lastInboxPoll + inboxPollMs - Date.now();
    const nextSlot = this.#schedules.nextDueAt();
    const untilSlot = nextSlot === null ? Infinity : nextSlot - Date.now();
    // Exits not yet written (storage was down) are tried again soon, whatever else is due.
    const untilUnrecordedExits = this.#dispatcher.unrecordedExits > 0 ? unrecordedExitsRetryMs : Infinity;
    return Math.max(
      0,
      Math.min(untilReconcile, until(this.#machine.nextReadyAt()), until(this.#machine.nextApprovalDeadline()), untilSlot, untilInbox, untilUnrecordedExits),
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

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    if (wake) wake();
    else this.#woken = true;
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
        this.#poke();
      })
      .catch((error: unknown) => {
        // The exit stays queued in the dispatcher; the loop writes it on a later turn.
        if (!this.#storageFull(error)) this.#settings.logger?.error({ executionId, error: String(error) }, 'recording a pushed exit failed; it is retried');
        this.#poke();
      });
  }

  #notifyWaiters(): void {
    for (const runId of [...this.#runWaiters.keys()]) this.#notifyIfEnded(runId);
  }

  // Tells the run's waiters once it has ended, after a commit that begins now: what ended it may
  // have been written while the commit the caller waited for was in flight (an exit pushed then),
  // and a waiter must never hear of an end a reader of the state store cannot see yet.
  #notifyIfEnded(runId: string): void {
    if (!this.#runWaiters.has(runId) || !this.#endedRun(runId)) return;
    // The run's checkpoint is issued first: its end may have been recorded after the loop's turn
    // issued checkpoints (a start's exit lands while the loop goes on), and whoever hears of the end
    // (and stops the engine, or exports the run's evidence) finds it covered.
    this.#checkpointer
      .issueIfDue()
      .catch((error: unknown) => this.#settings.logger?.warn({ runId, error: String(error) }, "issuing the run's checkpoint before telling its waiters failed"))
      .then(() => this.#commit())
      .then(
        () => {
          const waiters = this.#runWaiters.get(runId);
          const run = waiters && this.#endedRun(runId);
          if (!run) return;
          this.#runWaiters.delete(runId);
          for (const waiter of waiters) waiter(run);
        },
        // Not durable (the writer lost its lease): nobody is told; the next writer ends the run again.
        (error: unknown) => this.#settings.logger?.warn({ runId, error: String(error) }, 'the commit before telling run waiters failed'),
      );
  }

  // Reads the inbox when its interval has passed and no read is in flight; a poll that ingests
  // something wakes the loop.
  #pollInboxIfDue(): void {
    const { inboxPollMs } = this.#settings;
    if (inboxPollMs === false || this.#inboxPoll || Date.now() - this.#lastInboxPoll < inboxPollMs) return;
    this.#lastInboxPoll = Date.now();
    this.#inboxPoll = this.#inbox
      .poll()
      .catch((error: unknown) => {
        if (!this.#storageFull(error)) this.#settings.logger?.warn({ error: String(error) }, 'reading the inbox failed; trying again later');
      })
      .finally(() => {
        this.#inboxPoll = undefined;
        this.#poke();
      });
  }

  // A write asked for from outside (a request): when the disk is full it fails to its caller as
  // CAIRN_ENGINE_STORAGE_FULL (retry later), and the engine becomes not ready and probes for room.
  #writing<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      if (!this.#storageFull(error)) throw error;
      this.#poke();
      throw new CairnError(
        'CAIRN_ENGINE_STORAGE_FULL',
        `The disk under the engine database is full (${storageFullReason(error)}); nothing was written. Free space on the data directory's volume; the engine resumes by itself, then retry.`,
        { cause: error },
      );
    }
  }

  // When `error` says the disk is full: the engine is not ready (said once, with why and since
  // when) and the loop backs off. False for any other error.
  #storageFull(error: unknown): boolean {
    const reason = storageFullReason(error);
    if (reason === undefined) return false;
    if (this.#health.ready) {
      this.#health = { ready: false, reason: `storage full: ${reason}`, since: new Date().toISOString() };
      this.#settings.logger?.error({ reason }, 'the disk under the engine is full: dispatch is paused and writes are retried until there is room');
    }
    return true;
  }

  // A write went through after the disk was full: it has room again.
  #storageHasRoom(): void {
    if (this.#health.ready) return;
    this.#settings.logger?.info({ since: this.#health.since }, 'the disk under the engine has room again: dispatch resumes');
    this.#health = { ready: true, since: new Date().toISOString() };
  }

  // A write that needs room on the disk and changes nothing: SQLite rewrites the header page (with
  // the same schema version) into the WAL at commit. Throws SQLITE_FULL while the disk is full.
  #probeStorage(): void {
    this.#database.transaction(() => {
      const version = this.#database.pragma('user_version', { simple: true }) as number;
      this.#database.pragma(`user_version = ${version}`);
    })();
  }

  // What exists on this engine, for validating specs: executors, queues, adapters and secrets.
  #submitContext() {
    const { adapters, adapterSecrets } = this.#settings;
    return {
      executors: Object.keys(this.#executors),
      queues: Object.keys(this.#settings.queues),
      secrets: this.#secrets?.names() ?? [],
      ...(adapters ? { adapters } : {}),
      adapterSecrets,
    };
  }

  #requireSecrets(): SecretStore {
    if (!this.#secrets)
      throw new CairnError('CAIRN_CONFIG_INVALID', 'No cipher is configured, so secrets cannot be stored: give the engine a `cipher` (CipherV1).', {
        path: 'engine.cipher',
      });
    return this.#secrets;
  }

  #endedRun(runId: string): RunRecord | undefined {
    const run = this.#machine.run(runId);
    return run && isTerminalState(runTransitions, run.state) ? run : undefined;
  }
}

/** Builds an engine; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createEngine(settings: EngineSettings): Engine {
  return new Engine(settings);
}
