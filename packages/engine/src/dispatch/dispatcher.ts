import type { AuditActor, DispatchManifest, ExecutionStatus, ExecutorV1, ItemSpec, ManifestInput, SignerV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { signManifest } from '@cairn/audit';
import { canonicalJsonBytes, digestOfJson, isCairnError, parseDuration, parsePayload, resultRecordSchema, sha256Digest } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { EngineDatabase } from '../database/open-engine-database.ts';
import type { ItemRecord } from '../state/run-records.ts';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import { RunStore } from '../state/run-store.ts';
import { AttemptStore, type AttemptRecord } from './attempt-store.ts';
import { declaredLocks, LockTable, type HeldLock } from './lock-table.ts';
import { retryDelay } from './retry-delay.ts';

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
  readonly now?: () => number;
  /** Source of retry jitter; `Math.random` by default (tests inject one). */
  readonly random?: () => number;
}

const engineActor: AuditActor = { kind: 'system', id: 'engine', via: 'engine' };
const defaultTimeoutMs = 3_600_000;
/** What an empty workspace is, when a run names no snapshot. */
const emptyWorkspace = sha256Digest('');

/** Where a manifest and a result record live in storage. */
export const manifestKey = (digest: string) => `manifests/${digest.slice('sha256:'.length)}.json`;
export const resultKey = (executionId: string) => `results/${executionId}.json`;

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
  readonly #now: () => number;
  #dispatching: Promise<number> | undefined;
  /** Exits pushed before the attempt's start was recorded (an executor that finishes at once). */
  readonly #earlyExits = new Map<string, ExecutionStatus>();

  constructor(settings: DispatcherSettings) {
    this.#settings = settings;
    this.#runs = new RunStore(settings.database);
    this.#attempts = new AttemptStore(settings.database);
    this.#locks = new LockTable(settings.database);
    this.#now = settings.now ?? Date.now;
  }

  /**
   * Starts as many ready items (oldest first) as the concurrency limit allows; returns how many.
   * One pass at a time: a call during a pass waits for it instead of racing it.
   */
  dispatchReady(): Promise<number> {
    this.#dispatching ??= this.#dispatchPass().finally(() => {
      this.#dispatching = undefined;
    });
    return this.#dispatching;
  }

  /**
   * After a restart: attempts that were recorded as dispatched but whose start may not have
   * reached the executor are started again with the same execution id — executors start each id
   * once, so this re-attaches or starts, never duplicates. Running attempts re-attach through
   * their persisted handles on the next `reconcile`. Returns how many were re-started.
   */
  async recover(): Promise<number> {
    let recovered = 0;
    for (const attempt of this.#attempts.live()) {
      if (attempt.state !== 'dispatching') continue;
      const executor = this.#settings.executors[attempt.executor];
      if (!executor) continue;
      const handle = await executor.start({ executionId: attempt.executionId, manifestDigest: attempt.manifestDigest as TaskEnvelope['manifestDigest'] });
      this.#settings.database.transaction(() => {
        this.#attempts.started(attempt.executionId, handle);
        this.#settings.audit.append({
          actor: engineActor,
          action: 'attempt.started',
          entity: { kind: 'attempt', id: attempt.executionId },
          outcome: 'success',
          runId: attempt.runId,
          data: { itemId: attempt.itemId, attempt: attempt.attempt, recovered: true },
        });
      })();
      recovered++;
    }
    return recovered;
  }

  /**
   * Records an exit an executor pushed (`onExit`): the attempt completes at once, without waiting
   * for the reconcile loop. Exits of unknown or already finished attempts are ignored (a push may
   * repeat what `inspect` already found).
   */
  async exited(executionId: string, status: ExecutionStatus): Promise<boolean> {
    const attempt = this.#attempts.byExecutionId(executionId);
    if (!attempt || (attempt.state !== 'running' && attempt.state !== 'dispatching') || status.state !== 'exited') return false;
    if (attempt.state === 'dispatching') {
      this.#earlyExits.set(executionId, status);
      return false;
    }
    await this.#complete(attempt, status);
    return true;
  }

  /**
   * Inspects every live attempt and records those that ended; returns how many ended. Attempts
   * past their deadline, and those of runs being cancelled, are first stopped through their
   * executor (once) and end `timed-out` or `cancelled`.
   */
  async reconcile(): Promise<number> {
    let ended = 0;
    for (const live of this.#attempts.live()) {
      if (live.state !== 'running' || live.handle === null) continue;
      const executor = this.#settings.executors[live.executor];
      if (!executor) continue;
      const attempt = await this.#stopIfDue(live, executor);
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

  // Asks the executor to stop an attempt that is overdue or whose run is being cancelled, once.
  async #stopIfDue(attempt: AttemptRecord, executor: ExecutorV1): Promise<AttemptRecord> {
    let stopReason = attempt.stopReason;
    if (stopReason === null && this.#settings.machine.run(attempt.runId)?.cancelRequestedBy) stopReason = 'cancel';
    if (stopReason === null && attempt.deadline !== null && Date.parse(attempt.deadline) <= this.#now()) stopReason = 'timeout';
    if (stopReason === null || attempt.stopSent) return attempt;
    this.#attempts.requestStop(attempt.executionId, stopReason);
    await executor.cancel(attempt.handle!);
    this.#settings.database.transaction(() => {
      this.#attempts.markStopSent(attempt.executionId);
      this.#settings.audit.append({
        actor: engineActor,
        action: 'attempt.cancelled',
        entity: { kind: 'attempt', id: attempt.executionId },
        outcome: 'success',
        runId: attempt.runId,
        data: { itemId: attempt.itemId, attempt: attempt.attempt, reason: stopReason === 'timeout' ? `no result by its deadline ${attempt.deadline}` : 'its run is being cancelled' },
      });
    })();
    return { ...attempt, stopReason, stopSent: true };
  }

  // Oldest ready items first. An item whose locks are taken waits, and reserves those lock names:
  // no younger item takes them before it (FIFO for lock waiters, so shared holders cannot starve
  // an exclusive waiter).
  async #dispatchPass(): Promise<number> {
    const capacity = (this.#settings.concurrency ?? 16) - this.#attempts.liveCount();
    if (capacity <= 0) return 0;
    const reserved = new Set<string>();
    let started = 0;
    for (const item of this.#settings.machine.readyItems(capacity * 4 + 64)) {
      if (started >= capacity) break;
      const locks = declaredLocks((JSON.parse(this.#runs.itemSpec(item.runId, item.itemId)!.spec) as ItemSpec).locks);
      if (!locks.every((lock) => !reserved.has(lock.name) && this.#locks.available(lock))) {
        for (const lock of locks) reserved.add(lock.name);
        continue;
      }
      if (await this.#dispatch(item, locks)) started++;
    }
    return started;
  }

  async #dispatch(item: ItemRecord, locks: readonly HeldLock[]): Promise<boolean> {
    const { runId, itemId } = item;
    const stored = this.#runs.itemSpec(runId, itemId)!;
    const spec = JSON.parse(stored.spec) as ItemSpec;
    const executor = this.#settings.executors[stored.executor];
    const inputs = this.#inputs(runId, spec);
    if (!executor || typeof inputs === 'string') {
      const reason = executor ? inputs : `no executor named ${JSON.stringify(stored.executor)} is configured`;
      this.#settings.machine.startItem(runId, itemId);
      this.#settings.machine.finishItem(runId, itemId, 'failed', engineActor, { reason: String(reason) });
      return false;
    }
    const attempt = this.#runs.nextAttempt(runId, itemId);
    const executionId = `${runId}/${itemId}/${attempt}`;
    const manifest: DispatchManifest = {
      version: 'cairn.manifest/v1',
      runId,
      itemId,
      attempt,
      fencingToken: attempt,
      executionId,
      runtime: spec.runtime,
      workspace: (stored.workspace as DispatchManifest['workspace'] | null) ?? emptyWorkspace,
      inputs,
      apply: spec.apply ?? [],
      env: spec.env ?? {},
      secretNames: spec.secrets ?? [],
      limits: { timeoutMs: spec.timeout ? parseDuration(spec.timeout) : defaultTimeoutMs, network: spec.network ?? false, maxPatchBytes: 50_000_000, maxLogBytes: 5_000_000 },
      effect: spec.effect ?? 'read-impure',
      issuedAt: new Date(this.#now()).toISOString(),
    };
    const envelope = await signManifest(manifest, this.#settings.signer);
    const manifestDigest = digestOfJson(envelope);
    await this.#settings.storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope), { ifAbsent: true, contentType: 'application/json' });
    try {
      this.#settings.database.transaction(() => {
        // Locks may have been taken since the pass looked (a completion only frees them, but be sure).
        if (!this.#locks.acquireAll(runId, itemId, locks)) throw new LocksTaken();
        this.#settings.machine.startItem(runId, itemId);
        const now = this.#now();
        this.#attempts.insert({
          runId,
          itemId,
          attempt,
          fencingToken: attempt,
          executionId,
          executor: stored.executor,
          manifestDigest,
          dispatchedAt: new Date(now).toISOString(),
          deadline: new Date(now + manifest.limits.timeoutMs).toISOString(),
        });
        this.#settings.audit.append({ actor: engineActor, action: 'attempt.dispatched', entity: { kind: 'attempt', id: executionId }, outcome: 'success', runId, data: { itemId, attempt, manifestDigest } });
      })();
    } catch (error) {
      // Another pass or a cancel moved the item first, or its locks were taken: nothing was written.
      if (error instanceof LocksTaken || isCairnError(error, 'CAIRN_LIFECYCLE_TRANSITION_INVALID')) return false;
      throw error;
    }
    let handle;
    try {
      handle = await executor.start({ executionId, manifestDigest });
    } catch (error) {
      const reason = isCairnError(error) ? `${error.code}: ${error.message}` : String(error);
      this.#settings.database.transaction(() => {
        this.#attempts.finished(executionId, 'failed', null, null, new Date(this.#now()).toISOString());
        this.#locks.releaseAll(runId, itemId);
        this.#settings.audit.append({ actor: engineActor, action: 'attempt.completed', entity: { kind: 'attempt', id: executionId }, outcome: 'failure', runId, data: { itemId, attempt, outcome: 'failed', reason, artifacts: {} } });
        this.#settings.machine.finishItem(runId, itemId, 'failed');
      })();
      return false;
    }
    this.#settings.database.transaction(() => {
      this.#attempts.started(executionId, handle);
      this.#settings.audit.append({ actor: engineActor, action: 'attempt.started', entity: { kind: 'attempt', id: executionId }, outcome: 'success', runId, data: { itemId, attempt } });
    })();
    const early = this.#earlyExits.get(executionId);
    if (early) {
      this.#earlyExits.delete(executionId);
      await this.exited(executionId, early);
    }
    return true;
  }

  // The digests of the item's needs, from its producers' last successful attempts; a reason
  // string when one is missing.
  #inputs(runId: string, spec: ItemSpec): Record<string, ManifestInput> | string {
    const inputs: Record<string, ManifestInput> = {};
    for (const [name, need] of Object.entries(spec.needs ?? {})) {
      const digest = this.#attempts.succeededArtifacts(runId, need.from)?.[need.select];
      if (digest === undefined) return `input ${name}: item ${need.from} produced no ${need.select}`;
      inputs[name] = { from: need.from, select: need.select, digest: digest as ManifestInput['digest'] };
    }
    return inputs;
  }

  async #complete(attempt: AttemptRecord, status: ExecutionStatus): Promise<void> {
    const read = await this.#readResult(attempt);
    const result = read === 'stale' ? undefined : read;
    const lost = status.state === 'unknown';
    // A stopped task reports `cancelled`; what it really was is why the engine stopped it.
    const stopped = status.outcome === 'cancelled' && attempt.stopReason === 'timeout' ? 'timed-out' : status.outcome;
    const outcome = lost ? 'lost' : (stopped ?? 'failed');
    const artifacts = result?.artifacts ?? null;
    const exitCode = result?.exitCode ?? status.exitCode ?? null;
    this.#settings.database.transaction(() => {
      // A pushed exit and the reconcile loop may both get here: the first one records it.
      const current = this.#attempts.byExecutionId(attempt.executionId);
      if (current?.state !== 'running') return;
      if (read === 'stale') {
        this.#settings.audit.append({
          actor: engineActor,
          action: 'attempt.result-rejected',
          entity: { kind: 'attempt', id: attempt.executionId },
          outcome: 'denied',
          runId: attempt.runId,
          data: { itemId: attempt.itemId, attempt: attempt.attempt, reason: 'the result names another fencing token or manifest' },
        });
      }
      this.#attempts.finished(attempt.executionId, outcome, exitCode, artifacts, new Date(this.#now()).toISOString());
      this.#locks.releaseAll(attempt.runId, attempt.itemId);
      this.#settings.audit.append({
        actor: engineActor,
        action: lost ? 'attempt.lost' : 'attempt.completed',
        entity: { kind: 'attempt', id: attempt.executionId },
        outcome: outcome === 'succeeded' ? 'success' : 'failure',
        runId: attempt.runId,
        data: { itemId: attempt.itemId, attempt: attempt.attempt, outcome, exitCode, artifacts: artifacts ?? {} },
      });
      if (outcome === 'succeeded' || outcome === 'cancelled') this.#settings.machine.finishItem(attempt.runId, attempt.itemId, outcome);
      else this.#failOrRetry(attempt, outcome);
    })();
  }

  // A failed, timed-out or lost attempt is retried while the item has attempts left and its run
  // is not being cancelled.
  #failOrRetry(attempt: AttemptRecord, outcome: string): void {
    const spec = JSON.parse(this.#runs.itemSpec(attempt.runId, attempt.itemId)!.spec) as ItemSpec;
    const maxAttempts = spec.retry?.maxAttempts ?? 1;
    if (attempt.attempt >= maxAttempts || this.#settings.machine.run(attempt.runId)?.cancelRequestedBy) {
      this.#settings.machine.finishItem(attempt.runId, attempt.itemId, 'failed');
      return;
    }
    const delay = retryDelay(attempt.attempt, spec.retry?.backoff, this.#settings.random);
    this.#settings.machine.retryItem(attempt.runId, attempt.itemId, this.#now() + delay, { attempt: attempt.attempt, outcome, attemptsLeft: maxAttempts - attempt.attempt });
  }

  // The worker's result record, when it wrote one; 'stale' when it is not for this very attempt
  // (another fencing token or manifest), which is recorded and ignored.
  async #readResult(attempt: AttemptRecord): Promise<{ artifacts: Record<string, string>; exitCode: number | null } | 'stale' | undefined> {
    const bytes = await this.#settings.storage.get(resultKey(attempt.executionId));
    if (bytes === null) return undefined;
    const record = parsePayload(resultRecordSchema, JSON.parse(new TextDecoder().decode(bytes)), `result record ${resultKey(attempt.executionId)}`);
    if (record.fencingToken !== attempt.fencingToken || record.manifestDigest !== attempt.manifestDigest) return 'stale';
    return { artifacts: { ...record.artifacts }, exitCode: record.exitCode };
  }
}

/** Thrown inside a dispatch transaction to roll it back when the item's locks are gone. */
class LocksTaken extends Error {}
