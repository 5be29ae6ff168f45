import type { AuditActor, AuditEntry, BudgetSpec, CairnEvent, EvidenceBundleV1, ExecutorV1, JsonObject, RunSpecV1 } from '@cairn/core';
import { assertRunSpec, CairnError, parseRunSpec, parseSettings, type RunSpecContext } from '@cairn/protocol';
import { AuditLog } from './audit/audit-log.ts';
import { Checkpointer, type SignerTakeOver } from './audit/checkpointer.ts';
import type { EngineAuditLog } from './audit/engine-audit-log.ts';
import { EvidenceExporter } from './audit/evidence-exporter.ts';
import { readOnlyAuditLog } from './audit/read-only-audit-log.ts';
import type { EngineDatabase } from './store/shared/engine-database.ts';
import { openEngineDatabase } from './store/sqlite/open-engine-database.ts';
import { storageFullReason } from './store/storage-full.ts';
import type { ItemAttemptRecord } from './records/attempt-records.ts';
import { DelegatedManifestSigner } from './dispatch/delegated-manifest-signer.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import type { EngineHealth } from './engine-health.ts';
import type { EngineMetrics } from './engine-metrics.ts';
import type { EngineEventsOptions, EngineService } from './engine-service.ts';
import { engineSettingsSchema, type EngineSettings, type ResolvedEngineSettings } from './engine-settings.ts';
import { eventStream } from './events/event-stream.ts';
import { hostAuditDraft } from './host-audit/host-audit-draft.ts';
import { hostAuditWriterOver } from './host-audit/host-audit-writer-over.ts';
import { InProcessEngineService } from './in-process-engine-service.ts';
import { InboxIngester } from './inbox/inbox-ingester.ts';
import { EngineLoop } from './loop/engine-loop.ts';
import { EngineReadiness } from './loop/engine-readiness.ts';
import { RunWaiters } from './loop/run-waiters.ts';
import { ScheduleBook, type ScheduleDefinition, type ScheduleRecord } from './schedules/schedule-book.ts';
import { SecretStore, type SecretRecord } from './secrets/secret-store.ts';
import { GatewayRefusals } from './dispatch/gateway-refusals.ts';
import { ModelCallRecorder, type LiveAttempt, type ModelCall } from './dispatch/model-call-recorder.ts';
import type { RunListOptions, RunPage } from './records/run-page.ts';
import type { ItemRecord, RunRecord } from './records/run-records.ts';
import { RunStateMachine, type SubmitOptions, type SubmitResult } from './state/run-state-machine.ts';
import { submitContextOf } from './submit-context.ts';
import type { EngineReads } from './store/engine-reads.ts';
import type { GroupCommit } from './store/group-commit.ts';
import { SqliteEngineReads } from './store/sqlite/sqlite-engine-reads.ts';
import { WalCommit } from './store/sqlite/wal-commit.ts';
import { WorkingCopy } from './store/sqlite/working-copy.ts';
import type { Voter } from './state/approval-votes.ts';

// The engine's settings come with it: whoever builds an engine imports them from here.
export { engineSettingsSchema, type EngineSettings } from './engine-settings.ts';

/**
 * The engine: submissions in, dispatched tasks out, everything recorded. `start()` runs its loop,
 * which is event-driven: a submit, an approval, a cancel or a pushed task exit wakes it at once,
 * and it otherwise sleeps until the next retry is due or the reconcile interval for executors that
 * cannot push completions. On start it recovers attempts a previous process left behind.
 *
 * It builds its parts and answers for them: `RunStateMachine` moves runs and items, `Dispatcher`
 * starts and finishes attempts, `EngineLoop` drives both a turn at a time, `RunWaiters` tells who
 * waits for a run, `EngineReadiness` says whether the engine can work, and `EvidenceExporter` and
 * `eventStream` read what was recorded.
 */
export class Engine {
  /**
   * The audit log, to read: entries, queries, the Merkle tree. It has no `append`: the engine writes
   * its own entries, and a host writes the few it owns through `service().hostAudit`.
   */
  readonly audit: EngineAuditLog;
  /** The engine's state as the API reads it (what `service()` answers from). */
  readonly reads: EngineReads;
  readonly #audit: AuditLog;
  readonly #database: EngineDatabase;
  readonly #settings: ResolvedEngineSettings;
  readonly #executors: Readonly<Record<string, ExecutorV1>>;
  readonly #machine: RunStateMachine;
  readonly #checkpointer: Checkpointer;
  readonly #secrets: SecretStore | undefined;
  readonly #workingCopy: WorkingCopy;
  readonly #modelCalls: ModelCallRecorder;
  readonly #schedules: ScheduleBook;
  readonly #evidence: EvidenceExporter;
  readonly #readiness: EngineReadiness;
  readonly #waiters: RunWaiters;
  readonly #loop: EngineLoop;
  readonly #commit: GroupCommit;
  /** The descriptor the SQLite commit keeps on the WAL, closed with the engine. */
  readonly #closeCommit: () => Promise<void>;
  #service: EngineService | undefined;

  constructor(settings: EngineSettings) {
    const parsed = parseSettings(engineSettingsSchema, settings, 'engine');
    this.#settings = parsed;
    // The seams are taken from the settings as given, which are typed by them: parsing checked
    // them and kept each object as it was.
    this.#executors = settings.executors;
    this.#database = typeof settings.database === 'string' ? openEngineDatabase(settings.database) : settings.database;
    const workingCopy = new WorkingCopy(this.#database, { priorityAgingMs: parsed.priorityAgingSeconds * 1_000 });
    this.#workingCopy = workingCopy;
    this.#readiness = new EngineReadiness({ workingCopy, logger: parsed.logger });
    // A host that keeps the state elsewhere (PostgreSQL) brings its own commit; on SQLite it is an
    // fsync of the WAL, and an engine whose fsync failed is not ready until it is restarted.
    if (parsed.commit) {
      this.#commit = parsed.commit;
      this.#closeCommit = () => Promise.resolve();
    } else {
      const walCommit = WalCommit.commitFor(this.#database);
      void walCommit.failed.then((error) => this.#readiness.stateNotDurable(error.message));
      this.#commit = walCommit.commit;
      this.#closeCommit = () => walCommit.close();
    }
    const commit = this.#commit;
    const now = parsed.now ?? Date.now;
    this.#audit = new AuditLog(workingCopy, { now });
    this.audit = readOnlyAuditLog(this.#audit);
    this.#machine = new RunStateMachine(workingCopy, this.#audit, {
      now,
      defaultExecutor: parsed.defaultExecutor ?? Object.keys(settings.executors)[0]!,
      approvalTimeoutMs: parsed.approvalTimeoutMs,
    });
    const refusals = new GatewayRefusals();
    this.#modelCalls = new ModelCallRecorder({ attempts: workingCopy.attempts, audit: this.#audit, refusals });
    this.#secrets = settings.cipher ? new SecretStore({ workingCopy, audit: this.#audit, cipher: settings.cipher, now }) : undefined;
    this.#schedules = new ScheduleBook({
      workingCopy,
      audit: this.#audit,
      now,
      validate: (spec) =>
        assertRunSpec(typeof spec === 'string' ? parseRunSpec(spec) : spec, { source: "The schedule's spec", context: this.#submitContext() }).spec,
      // A schedule is made by an admin, and its spec cannot change after: its runs hold the secrets that spec names.
      submit: (spec, options) => this.#machine.submit(spec, { ...options, secretGrants: 'all', context: this.#submitContext() }),
      runState: (runId) => this.#machine.run(runId)?.state,
      cancelRun: (runId, actor) => this.cancelRun(runId, actor),
      ...(parsed.fetchWorkspace ? { fetchWorkspace: parsed.fetchWorkspace, fetched: () => this.#loop.poke() } : {}),
    });
    const inbox = new InboxIngester({
      storage: settings.storage,
      // Whoever can write to storage can drop a spec: the inbox grants no secret. The file is
      // removed once its run is durable, never before.
      submit: async (text, options) => {
        const result = this.submit(text, { ...options, secretGrants: [] });
        await commit();
        return result;
      },
      now,
      ...(parsed.logger ? { logger: parsed.logger } : {}),
    });
    const dispatcher = new Dispatcher({
      workingCopy,
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
      commit,
      refusals,
      pendingModelCalls: this.#modelCalls.pending,
      ...(this.#secrets ? { secrets: this.#secrets } : {}),
      ...(parsed.gateway ? { gateway: parsed.gateway } : {}),
      ...(parsed.attemptTraceContext ? { attemptTraceContext: parsed.attemptTraceContext } : {}),
      ...(parsed.observer ? { observer: parsed.observer } : {}),
      specContext: () => this.#submitContext(),
    });
    this.#checkpointer = new Checkpointer({
      workingCopy,
      audit: this.#audit,
      signer: settings.signer,
      ...(settings.previousSigner ? { previousSigner: settings.previousSigner } : {}),
      anchors: settings.anchors ?? [],
      ...parsed.checkpoints,
      now,
      commit,
      ...(parsed.observer ? { observer: parsed.observer } : {}),
    });
    this.reads = new SqliteEngineReads({ workingCopy, audit: this.#audit, anchoringLag: () => this.#checkpointer.lag() });
    this.#evidence = new EvidenceExporter({
      audit: this.#audit,
      machine: this.#machine,
      checkpointer: this.#checkpointer,
      signingKeys: workingCopy.signingKeys,
      storage: settings.storage,
      signers: settings.previousSigner ? [settings.signer, settings.previousSigner] : [settings.signer],
    });
    this.#waiters = new RunWaiters({ machine: this.#machine, checkpointer: this.#checkpointer, commit, logger: parsed.logger });
    this.#loop = new EngineLoop({
      settings: parsed,
      executors: settings.executors,
      machine: this.#machine,
      dispatcher,
      schedules: this.#schedules,
      checkpointer: this.#checkpointer,
      inbox,
      readiness: this.#readiness,
      waiters: this.#waiters,
      commit,
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
    this.#loop.poke();
    return result;
  }

  /**
   * The attempt an execution id names while it runs, for the model gateway's credential check
   * (ADR 0033); undefined once it ended or when there is none.
   */
  liveAttempt(executionId: string): LiveAttempt | undefined {
    return this.#modelCalls.liveAttempt(executionId);
  }

  /**
   * Audits one model call of a live attempt as a `model.called` entry of its run (durable with the
   * next group commit); throws CAIRN_MODEL_NOT_ALLOWED when the attempt is not live. Without
   * `stored` the entry is written at once; with it (the call's bodies being made durable in
   * storage), only once they are (ADR 0059): see `ModelCallRecorder.recordOnceStored`.
   */
  recordModelCall(call: ModelCall, stored?: Promise<unknown>): Promise<AuditEntry> {
    if (stored === undefined) return Promise.resolve(this.#writing(() => this.#modelCalls.record(call)));
    return this.#modelCalls.recordOnceStored(call, stored, (record) => this.#writing(record), this.#commit.hold);
  }

  /**
   * A server secret's value for the host's own use (the model gateway's provider keys, ADR 0033, a
   * forge's token, a trigger's signing secret), never an item's: CAIRN_SECRET_UNAVAILABLE naming it
   * when it is not set or does not decrypt, `purpose` saying who asked (see `revealServerSecret`).
   */
  async revealSecret(name: string, purpose?: string): Promise<string> {
    return this.#requireSecrets().revealForServer(name, purpose);
  }

  /**
   * The gateway found the run's model spend at its budget (`data`: what was spent of which budget):
   * a running run awaits a raise, starting no agent items meanwhile (ADR 0033). True when it moved.
   */
  awaitBudget(runId: string, data: JsonObject): boolean {
    return this.#writing(() => this.#machine.awaitBudget(runId, data));
  }

  /** Gives a run a new budget (`reason` kept in the `run.budget-raised` entry); a run awaiting one runs again. */
  raiseBudget(runId: string, budget: BudgetSpec, actor: AuditActor, reason: string): void {
    this.#writing(() => this.#machine.raiseBudget(runId, budget, actor, reason));
    this.#loop.poke();
  }

  /**
   * Approves an item awaiting approval; `reason` is kept in the `item.approved` audit entry. Under
   * an approval policy it is `actor`'s vote, counted when `voter` (the roles and groups the
   * authorizer knows them by) is one the policy counts.
   */
  approve(runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter): void {
    this.#writing(() => this.#machine.approveItem(runId, itemId, actor, reason, voter));
    this.#loop.poke();
  }

  /**
   * A principal's access to approve ended (ADR 0046): their approvals of items that have not
   * started no longer count, and a ready item left short of its policy's `required` waits for
   * approval again. `rolesKept`: the roles the principal still approves with, if they still may.
   * Returns how many items lost an approval.
   */
  lapseApprovals(principal: string, reason: string, actor: AuditActor, rolesKept?: readonly string[]): number {
    const lapsed = this.#writing(() => this.#machine.lapseApprovals(principal, reason, actor, rolesKept));
    this.#loop.poke();
    return lapsed;
  }

  /** Rejects an item awaiting approval: it fails with `reason`, and what depends on it is skipped. */
  reject(runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter): void {
    this.#writing(() => this.#machine.rejectItem(runId, itemId, actor, reason, voter));
    this.#waiters.notifyIfEnded(runId);
    this.#loop.poke();
  }

  /**
   * Cancels a run: what has not started at once, running tasks through their executors. `reason`
   * is stored with the request and carried by the cancellation's audit entries.
   */
  cancelRun(runId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.cancelRun(runId, actor, reason));
    this.#loop.requestStops();
    this.#waiters.notifyIfEnded(runId);
    this.#loop.poke();
  }

  /** Cancels one item (a running one through its executor); its dependents are skipped. */
  cancelItem(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#writing(() => this.#machine.cancelItem(runId, itemId, actor, reason));
    this.#loop.requestStops();
    this.#waiters.notifyIfEnded(runId);
    this.#loop.poke();
  }

  /**
   * Adds a cron schedule whose slots submit `definition.spec` as runs `<scheduleId>@<slot time>`
   * (see `ScheduleBook.add`); the loop fires due slots.
   */
  addSchedule(definition: ScheduleDefinition, actor: AuditActor): ScheduleRecord {
    const schedule = this.#writing(() => this.#schedules.add(definition, actor));
    this.#loop.poke();
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
    const audit = this.#audit;
    return eventStream(
      { reads: this.reads, nextAppend: (signal) => audit.nextAppend(signal), lastSeqOfAny: (actions) => audit.lastSeqOfAny(actions) },
      options,
    );
  }

  /**
   * Whether the engine can do its work now, and if not why and since when (what `/readyz`
   * reports). Not ready while the disk under its database is full: see `EngineHealth`.
   */
  health(): EngineHealth {
    return this.#readiness.health();
  }

  /** Counts by state, queue depth, live attempts and how far anchoring trails: what `/metrics` exposes. */
  metrics(): EngineMetrics {
    return { ...this.#workingCopy.counts.read(), auditEntries: this.#audit.size, ...this.#checkpointer.lag() };
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
        await this.#commit();
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
    return this.#workingCopy.history.page(options);
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
    return this.#waiters.wait(runId);
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

  /**
   * Resolves once everything the engine wrote before the call is durable in its state store (a
   * power loss keeps it), and rejects if that can no longer be made so. The methods above return
   * once their change is recorded; `service()` answers a command only after this.
   */
  committed(): Promise<void> {
    return this.#commit();
  }

  /** Starts the loop (recovering what a previous process left running). */
  start(): void {
    this.#loop.start();
  }

  /** Stops the loop; running tasks keep running and are re-attached by the next start. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }

  /** Stops and closes the database (when the engine opened it). */
  async close(): Promise<void> {
    await this.stop();
    // Model calls answered before the close are recorded once their bodies are durable (a flush each).
    await this.#modelCalls.pending.all();
    await this.#closeCommit();
    if (typeof this.#settings.database === 'string') this.#database.close();
  }

  // A write asked for from outside (a request): when the disk is full it fails to its caller as
  // CAIRN_ENGINE_STORAGE_FULL (retry later), and the engine becomes not ready and probes for room.
  #writing<T>(write: () => T): T {
    try {
      return write();
    } catch (error) {
      if (!this.#readiness.storageFull(error)) throw error;
      this.#loop.poke();
      throw new CairnError(
        'CAIRN_ENGINE_STORAGE_FULL',
        `The disk under the engine database is full (${storageFullReason(error)}); nothing was written. Free space on the data directory's volume; the engine resumes by itself, then retry.`,
        { cause: error },
      );
    }
  }

  // What exists on this engine, for validating specs (see submitContextOf).
  #submitContext(): RunSpecContext {
    return submitContextOf(this.#settings, this.#executors, this.#secrets?.names() ?? []);
  }

  #requireSecrets(): SecretStore {
    if (!this.#secrets)
      throw new CairnError('CAIRN_CONFIG_INVALID', 'No cipher is configured, so secrets cannot be stored: give the engine a `cipher` (CipherV1).', {
        path: 'engine.cipher',
      });
    return this.#secrets;
  }
}

/** Builds an engine; throws CAIRN_CONFIG_INVALID naming every bad option. */
export function createEngine(settings: EngineSettings): Engine {
  return new Engine(settings);
}
