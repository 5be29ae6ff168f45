import type { AuditActor, BudgetSpec, ItemSpec, JsonObject, RunSpecV1 } from '@cairn/core';
import { CairnError, itemPriority, needsApproval, runPriority } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { newRunId } from './new-run-id.ts';
import { checkedSubmission, fetchedWorkspace, grantedSecrets, insertItemRows, itemEdges, type SubmitOptions, type SubmitResult } from './run-submission.ts';
import type { CheckedFragment } from './run-fragment.ts';
import { cancelReasonData, decodeCancelRequest } from './cancel-request.ts';
import type { ItemRecord, RunRecord } from '../records/run-records.ts';
import type { ReadyCandidate } from '../store/sqlite/ready-item-pages.ts';
import { engineActor } from '../engine-actor.ts';
import type { ItemAttemptRecord } from '../records/attempt-records.ts';
import { isoTime } from '../iso-time.ts';
import type { Voter } from './approval-votes.ts';
import { lapseApprovals } from './approval-lapses.ts';
import { ItemApprovals } from './item-approvals.ts';
import { RunBudget } from './run-budget.ts';
import { RunCancellation } from './run-cancellation.ts';
import { RunGrowth } from './run-growth.ts';
import { FragmentJoin, type FragmentJoinProgress } from './fragment-join.ts';
import { RunLifecycle, type RunLifecycleSettings } from './run-lifecycle.ts';

export type { SubmitOptions, SubmitResult } from './run-submission.ts';

/** How a running item ended. */
export type ItemOutcome = 'succeeded' | 'failed' | 'cancelled';

export type RunStateMachineSettings = RunLifecycleSettings;

/**
 * The lifecycle of runs and items in the engine database. Every transition is checked against
 * the protocol's transition tables, written with its audit entries in one transaction, and
 * event-driven: finishing an item touches only its dependents (found by index), never the rest
 * of the run or the history. It submits runs and moves items through their runs; approvals
 * (`ItemApprovals`), cancels (`RunCancellation`), budgets (`RunBudget`) and a run's growth
 * (`RunGrowth`) are parts of it, all making their moves through one `RunLifecycle`.
 */
export class RunStateMachine {
  readonly #lifecycle: RunLifecycle;
  readonly #approvalGate: ItemApprovals;
  readonly #cancellation: RunCancellation;
  readonly #budget: RunBudget;
  readonly #growth: RunGrowth;
  readonly #join: FragmentJoin;

  constructor(workingCopy: WorkingCopy, audit: AuditLog, settings: RunStateMachineSettings = {}) {
    this.#lifecycle = new RunLifecycle(workingCopy, audit, settings);
    this.#approvalGate = new ItemApprovals(this.#lifecycle);
    this.#cancellation = new RunCancellation(this.#lifecycle);
    this.#budget = new RunBudget(this.#lifecycle);
    this.#growth = new RunGrowth(this.#lifecycle);
    this.#join = new FragmentJoin(this.#lifecycle);
  }

  /**
   * Validates and stores a run (YAML/JSON text or a parsed value). With an idempotency key, the
   * same key and the same spec return the existing run; the same key with another spec is
   * CAIRN_IDEMPOTENCY_CONFLICT. Items without prerequisites become ready (or await approval).
   */
  submit(document: unknown, options: SubmitOptions): SubmitResult {
    const { spec, digest, canonical, idempotencyKey } = checkedSubmission(document, options);
    const secrets = grantedSecrets(spec, options, this.#lifecycle.audit);
    // Keys are the submitter's own: another principal using the same key gets a run of its own.
    const scopedKey = idempotencyKey === null ? null : `${options.actor.id}\u001f${idempotencyKey}`;
    return this.#lifecycle.inTransaction((): SubmitResult => {
      if (scopedKey !== null) {
        const existing = this.#lifecycle.store.runByIdempotencyKey(scopedKey);
        if (existing?.specDigest === digest) return { runId: existing.runId, created: false, specDigest: digest };
        if (existing) {
          throw new CairnError(
            'CAIRN_IDEMPOTENCY_CONFLICT',
            `The idempotency key ${JSON.stringify(idempotencyKey)} was used for run ${existing.runId} with another spec (${existing.specDigest}).`,
            {
              details: { idempotencyKey, runId: existing.runId },
            },
          );
        }
      }
      const now = this.#lifecycle.now();
      const runId = options.runId ?? newRunId(now);
      const taken = options.runId === undefined ? undefined : this.#lifecycle.store.run(runId);
      if (taken?.specDigest === digest) return { runId, created: false, specDigest: digest };
      if (taken) {
        throw new CairnError(
          'CAIRN_IDEMPOTENCY_CONFLICT',
          `The run id ${JSON.stringify(runId)} is already taken by a run with another spec (${taken.specDigest}).`,
          {
            details: { runId },
          },
        );
      }
      this.#lifecycle.store.insertRun({
        runId,
        name: spec.name,
        spec: canonical,
        specDigest: digest,
        idempotencyKey: scopedKey,
        submittedBy: options.actor.id,
        submittedAt: isoTime(now),
        itemsTotal: spec.items.length,
        workspace: spec.workspace?.snapshot ?? null,
        concurrency: spec.concurrency ?? null,
        priority: runPriority(spec),
      });
      // The grants the run holds are the secrets its items name, each one the submitter was granted.
      this.#lifecycle.audit.append({
        actor: options.actor,
        action: 'run.submitted',
        entity: { kind: 'run', id: runId },
        outcome: 'success',
        runId,
        data: {
          specDigest: digest,
          items: spec.items.length,
          ...(secrets.length > 0 ? { secretsGranted: secrets } : {}),
          // What a workspace fetched from a repository was, in the entry a verifier reads first.
          ...(spec.workspace?.repository !== undefined ? { workspace: fetchedWorkspace(spec.workspace) } : {}),
        },
      });
      // Items with no prerequisites are released at once, from the rows as inserted (not read
      // back); one inserted `ready` is audited here, in the order of the rows.
      const readyAt = isoTime(now);
      const rootPositions = insertItemRows(spec, { runId, readyAt, defaultExecutor: this.#lifecycle.defaultExecutor }, (rows) =>
        this.#lifecycle.store.insertItems(rows),
      );
      this.#lifecycle.store.insertEdges(runId, itemEdges(spec));
      for (const position of rootPositions) {
        const item = spec.items[position]!;
        const approvalRequired = needsApproval(item.approval);
        const root: ItemRecord = {
          runId,
          itemId: item.id,
          position,
          state: 'blocked',
          waitingOn: 0,
          approvalRequired,
          readyAt: null,
          cancelRequestedBy: null,
          failure: null,
          lockWait: null,
          priority: itemPriority(spec, item),
        };
        if (approvalRequired) this.#lifecycle.release(root, now);
        else this.#lifecycle.audited(root, 'ready', engineActor, {});
      }
      return { runId, created: true, specDigest: digest };
    })();
  }

  /** A ready item starts running (its run with it, on the first). */
  startItem(runId: string, itemId: string, actor: AuditActor = engineActor): void {
    this.#lifecycle.inTransaction(() => this.#lifecycle.start(this.#lifecycle.requireRun(runId), this.#lifecycle.requireItem(runId, itemId), actor))();
  }

  /**
   * Starts the item as `startItem` does, unless it can no longer start (another pass or a cancel
   * moved it first): then false, with nothing read twice and nothing written, so a batch can go
   * on without a savepoint to undo it.
   */
  startItemIfStartable(runId: string, itemId: string, actor: AuditActor = engineActor): boolean {
    return this.#lifecycle.inTransaction(() => {
      // One statement on the common path: the move from ready (the one state running is entered
      // from, and entering it is not audited: the attempt is) answers the run's state.
      const runState = this.#lifecycle.store.startIfReady(runId, itemId);
      if (runState === undefined) {
        this.#lifecycle.requireItem(runId, itemId);
        return false;
      }
      if (runState === 'queued') this.#lifecycle.runStarted(runId, actor);
      return true;
    })();
  }

  /**
   * A running item ended. Success releases dependents whose last prerequisite it was; failure or
   * cancellation skips everything downstream. The last item to finish ends the run. An item
   * cancelled on its own (not with its run) counts against the run like a failure: the run did not
   * do all it was asked to. `artifacts`, given with a success, are what the item produced (kind →
   * digest), recorded with its new state in one write.
   */
  finishItem(
    runId: string,
    itemId: string,
    outcome: ItemOutcome,
    actor: AuditActor = engineActor,
    data: JsonObject = {},
    artifacts?: Readonly<Record<string, string>>,
    /** Told of each dependent the success made ready (a `forEach` item is expanded then). */
    released?: (itemId: string) => void,
  ): void {
    this.#lifecycle.inTransaction(() => {
      // A success with its artifacts (every task's) is one update from running, which answers
      // whether anything depends on the item: no read of the item first. Anything else, or an item
      // not running (the update then writes nothing), goes the way that reads it and says why not.
      const succeeded = outcome === 'succeeded' && artifacts !== undefined ? this.#lifecycle.store.succeedIfRunning(runId, itemId, artifacts) : undefined;
      let hasDependents: boolean;
      let cancelledOnItsOwn = false;
      if (succeeded !== undefined) {
        hasDependents = succeeded.hasDependents;
        this.#lifecycle.audited({ runId, itemId }, 'succeeded', actor, data);
      } else {
        const item = this.#lifecycle.store.itemWithDependents(runId, itemId);
        if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} does not exist.`, { details: { runId, itemId } });
        const stored = outcome === 'cancelled' ? (item.cancelRequestedBy ?? this.#lifecycle.requireRun(runId).cancelRequestedBy) : null;
        const cancel = stored === null ? null : decodeCancelRequest(stored);
        this.#lifecycle.move(item, outcome, cancel === null ? actor : cancel.actor, { ...data, ...cancelReasonData(cancel) });
        hasDependents = item.hasDependents;
        cancelledOnItsOwn = outcome === 'cancelled' && item.cancelRequestedBy !== null;
      }
      let run = this.#lifecycle.store.itemFinished(runId, outcome === 'failed' || cancelledOnItsOwn);
      if (outcome === 'succeeded' && run.cancelRequestedBy === null) {
        // Nothing depends on it (read with it): no dependents to look up.
        for (const dependent of hasDependents ? this.#lifecycle.store.dependents(runId, itemId) : []) {
          // A dependent cancelled on its own meanwhile has already ended: it stays so.
          const waiting = this.#lifecycle.store.prerequisiteSucceeded(runId, dependent);
          if (waiting.waitingOn === 0 && waiting.state === 'blocked') {
            this.#lifecycle.release(waiting, this.#lifecycle.now());
            released?.(waiting.itemId);
          }
        }
      } else if (outcome !== 'succeeded') {
        run = this.#lifecycle.skipDownstream(runId, itemId) ?? run;
      }
      if (run.itemsFinished === run.itemsTotal) this.#lifecycle.finishRun(run);
    })();
  }

  /** {@inheritDoc RunCancellation.cancelRun} */
  cancelRun(runId: string, actor: AuditActor, reason?: string): void {
    this.#cancellation.cancelRun(runId, actor, reason);
  }

  /** {@inheritDoc RunCancellation.cancelItem} */
  cancelItem(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#cancellation.cancelItem(runId, itemId, actor, reason);
  }

  /** {@inheritDoc ItemApprovals.approveItem} */
  approveItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    this.#approvalGate.approveItem(runId, itemId, actor, reason, voter);
  }

  /** {@inheritDoc lapseApprovals} */
  lapseApprovals(principal: string, reason: string, actor: AuditActor, rolesKept?: readonly string[]): number {
    return lapseApprovals(this.#lifecycle, principal, reason, actor, rolesKept);
  }

  /** {@inheritDoc ItemApprovals.rejectItem} */
  rejectItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    this.#approvalGate.rejectItem(runId, itemId, actor, reason, voter);
  }

  /** {@inheritDoc ItemApprovals.expireApprovals} */
  expireApprovals(limit = 1_000): number {
    return this.#approvalGate.expireApprovals(limit);
  }

  /** {@inheritDoc ItemApprovals.nextApprovalDeadline} */
  nextApprovalDeadline(): string | null {
    return this.#approvalGate.nextApprovalDeadline();
  }

  /** {@inheritDoc RunGrowth.extendRun} */
  extendRun(runId: string, emitterId: string, attempt: number, fragment: CheckedFragment, more: JsonObject = {}): void {
    this.#growth.extendRun(runId, emitterId, attempt, fragment, more);
  }

  /** {@inheritDoc FragmentJoin.step} */
  joinStep(progress: FragmentJoinProgress): 'more' | 'joined' | 'cancelled' {
    return this.#join.step(progress);
  }

  /** {@inheritDoc FragmentJoin.joined} */
  fragmentJoined(runId: string, emitterId: string, attempt: number, fragment: CheckedFragment): void {
    this.#join.joined(runId, emitterId, attempt, fragment);
  }

  /** {@inheritDoc RunGrowth.rerunForMerge} */
  rerunForMerge(
    runId: string,
    mergeId: string,
    attempt: number,
    rerun: ItemSpec,
    data: { readonly producer: string; readonly merged: readonly string[] },
  ): void {
    this.#growth.rerunForMerge(runId, mergeId, attempt, rerun, data);
  }

  /** {@inheritDoc RunBudget.awaitBudget} */
  awaitBudget(runId: string, data: JsonObject): boolean {
    return this.#budget.awaitBudget(runId, data);
  }

  /** {@inheritDoc RunBudget.raiseBudget} */
  raiseBudget(runId: string, budget: BudgetSpec, actor: AuditActor, reason: string): void {
    this.#budget.raiseBudget(runId, budget, actor, reason);
  }

  run(runId: string): RunRecord | undefined {
    return this.#lifecycle.store.run(runId);
  }

  /** {@inheritDoc RunStore.runConcurrency} */
  runConcurrency(runId: string): number | null | undefined {
    return this.#lifecycle.store.runConcurrency(runId);
  }

  items(runId: string): ItemRecord[] {
    return this.#lifecycle.store.items(runId);
  }

  /** What a succeeded item produced (kind → digest), whether it ran or reused a pure result. */
  artifacts(runId: string, itemId: string): Record<string, string> | undefined {
    return this.#lifecycle.store.artifacts(runId, itemId);
  }

  /** The item's attempts, first to last. */
  attempts(runId: string, itemId: string): ItemAttemptRecord[] {
    return this.#lifecycle.attempts.ofItem(runId, itemId);
  }

  /** The run's spec as submitted. */
  spec(runId: string): RunSpecV1 | undefined {
    const text = this.#lifecycle.store.spec(runId);
    return text === undefined ? undefined : (JSON.parse(text) as RunSpecV1);
  }

  /** The oldest items ready now across all runs (FIFO by ready time): what a dispatcher takes next. */
  readyItems(limit: number): ItemRecord[] {
    return this.#lifecycle.store.readyItems(limit, isoTime(this.#lifecycle.now()));
  }

  /**
   * The items the success of `itemId` would make ready, as they are now: its blocked dependents
   * that wait on it alone and need no approval. A guess, read without writing (the dispatcher
   * prepares their dispatch while the success is being recorded); the success itself decides.
   */
  readiedBySuccess(runId: string, itemId: string): ItemRecord[] {
    // Two index searches: the edges, then each dependent by its key. One statement joining them
    // measured ~15 µs a read, these ~2 µs each (a chain has one dependent a hop).
    return this.#lifecycle.store.dependents(runId, itemId).flatMap((dependent) => {
      const item = this.#lifecycle.store.item(runId, dependent);
      return item && item.state === 'blocked' && item.waitingOn === 1 && !item.approvalRequired && item.cancelRequestedBy === null ? [item] : [];
    });
  }

  /**
   * `readyItems(limit)`, each with what its dispatch needs, read `pageSize` at a time as they are
   * taken: a dispatch pass that fills up after a few reads no more rows than it needs.
   */
  readyCandidatesInPages(limit: number, pageSize: number): Iterable<ReadyCandidate> {
    return this.#lifecycle.store.readyCandidatesInPages(limit, pageSize, isoTime(this.#lifecycle.now()));
  }

  /**
   * When the next ready item due after `after` becomes due (a retry waiting out its backoff), if
   * any: a dispatcher that looked at every item due by `after` sleeps until then. Items due by
   * `after` that its pass left ready wait for room (a slot, a run's or a queue's limit, a lock) or
   * a budget, which only an event gives back (an exit, a cancel, a raise: each wakes the loop).
   */
  nextReadyAt(after: string): string | null {
    return this.#lifecycle.store.nextReadyAt(after);
  }

  /**
   * A running item whose attempt failed goes back to ready, due at `readyAt` (after its backoff).
   * Audited with the attempt that failed and when the next one may start.
   */
  retryItem(runId: string, itemId: string, readyAt: number, data: JsonObject = {}): void {
    this.#lifecycle.inTransaction(() => {
      this.#lifecycle.move(this.#lifecycle.requireItem(runId, itemId), 'ready', engineActor, { ...data, retryAt: isoTime(readyAt) }, isoTime(readyAt));
    })();
  }
}
