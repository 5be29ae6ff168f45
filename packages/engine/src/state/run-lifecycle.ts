import type { AuditActor, ItemSpec, ItemState, JsonObject } from '@cairn/core';
import { approvalPolicyOf, type ApprovalPolicy, assertTransition, CairnError, isTerminalState, itemTransitions, runTransitions } from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import type { ApprovalVoteTable } from '../store/sqlite/approval-vote-table.ts';
import type { AttemptStore } from '../store/sqlite/attempt-store.ts';
import type { RunStore } from '../store/sqlite/run-store.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { ApprovalDeadlines } from './approval-deadlines.ts';
import { cancelReasonData, decodeCancelRequest } from './cancel-request.ts';
import { auditItemEntered } from './item-entry-audit.ts';
import type { ItemRecord, RunProgress, RunRecord } from '../records/run-records.ts';

export interface RunLifecycleSettings {
  readonly now?: () => number;
  /** The executor of items that name none. */
  readonly defaultExecutor?: string;
  /** How long an item waits for approval before it fails; 7 days by default. */
  readonly approvalTimeoutMs?: number;
}

const defaultApprovalTimeoutMs = 7 * 24 * 3_600_000;

/**
 * The moves every part of the run state machine makes (`RunStateMachine`, `ItemApprovals`,
 * `RunCancellation`, `RunBudget`, `RunGrowth`): each checked against the protocol's transition
 * tables and written with its audit entries, and what a move brings about (an item released or
 * skipped, a run ended when its last item does). Inside the state machine only: callers outside
 * go through `RunStateMachine`.
 */
export class RunLifecycle {
  readonly store: RunStore;
  readonly attempts: AttemptStore;
  readonly votes: ApprovalVoteTable;
  readonly audit: AuditLog;
  readonly now: () => number;
  readonly defaultExecutor: string;
  readonly approvalTimeoutMs: number;
  /** The earliest approval deadline, kept in memory (`ApprovalDeadlines`). */
  readonly approvals: ApprovalDeadlines;
  readonly #workingCopy: WorkingCopy;

  constructor(workingCopy: WorkingCopy, audit: AuditLog, settings: RunLifecycleSettings = {}) {
    this.#workingCopy = workingCopy;
    this.audit = audit;
    this.store = workingCopy.runs;
    this.attempts = workingCopy.attempts;
    this.votes = workingCopy.approvalVotes;
    this.approvals = new ApprovalDeadlines(() => this.store.nextApprovalDeadline());
    this.now = settings.now ?? Date.now;
    this.defaultExecutor = settings.defaultExecutor ?? 'local';
    this.approvalTimeoutMs = settings.approvalTimeoutMs ?? defaultApprovalTimeoutMs;
  }

  // Runs `work` in a transaction, or directly inside the caller's (whose failure handling — a
  // savepoint or an abort — then covers it): nested savepoints on every transition cost more than
  // the transitions.
  inTransaction<T>(work: () => T): () => T {
    return () => this.#workingCopy.inTransaction(work);
  }

  /** The item runs, and its run with it on the first start. */
  start(run: RunRecord, item: ItemRecord, actor: AuditActor): void {
    this.move(item, 'running', actor);
    if (run.state === 'queued') this.runStarted(run.runId, actor);
  }

  /** A queued run's first item started. */
  runStarted(runId: string, actor: AuditActor): void {
    assertTransition(runTransitions, 'queued', 'running', `run ${runId}`);
    this.store.setRunState(runId, 'running');
    this.audit.append({ actor, action: 'run.started', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data: {} });
  }

  /** An item whose prerequisites all succeeded: ready, or awaiting approval (until a deadline) first. */
  release(item: ItemRecord, now: number): void {
    if (!item.approvalRequired) {
      this.move(item, 'ready', engineActor, {}, isoTime(now));
      return;
    }
    const deadline = isoTime(now + (this.policyOf(item).timeoutMs ?? this.approvalTimeoutMs));
    this.store.setApprovalDeadline(item.runId, item.itemId, deadline);
    this.approvals.lower(deadline);
    this.move(item, 'awaiting-approval', engineActor, { deadline });
  }

  /**
   * An item that ended without running (cancelled, rejected, timed out): counted, its dependents
   * skipped, and the run ended if it was the last.
   */
  endedEarly(runId: string, itemId: string, failed: boolean): void {
    let run = this.store.itemFinished(runId, failed);
    run = this.skipDownstream(runId, itemId) ?? run;
    if (run.itemsFinished === run.itemsTotal) this.finishRun(run);
  }

  /** Skips every item downstream of one that failed; the run's progress after the last, if any was skipped. */
  skipDownstream(runId: string, failedItemId: string): RunProgress | undefined {
    let run: RunProgress | undefined;
    const pending = [...this.store.dependents(runId, failedItemId)];
    while (pending.length > 0) {
      const dependent = this.requireItem(runId, pending.pop()!);
      if (isTerminalState(itemTransitions, dependent.state)) continue;
      this.move(dependent, 'skipped', engineActor, { because: failedItemId });
      run = this.store.itemFinished(runId, false);
      pending.push(...this.store.dependents(runId, dependent.itemId));
    }
    return run;
  }

  /** The run's last item ended: the run ends too. */
  finishRun(run: RunProgress): void {
    // Items are only skipped after a failure (an item cancelled on its own counts as one), so no
    // failure means every item succeeded.
    const state = run.cancelRequestedBy !== null ? 'cancelled' : run.itemsFailed === 0 ? 'succeeded' : 'failed';
    assertTransition(runTransitions, run.state, state, `run ${run.runId}`);
    this.store.setRunState(run.runId, state, isoTime(this.now()));
    const cancel = run.cancelRequestedBy === null ? null : decodeCancelRequest(run.cancelRequestedBy);
    this.audit.append({
      actor: cancel?.actor ?? engineActor,
      action: `run.${state}`,
      entity: { kind: 'run', id: run.runId },
      outcome: state === 'succeeded' ? 'success' : 'failure',
      runId: run.runId,
      data: { items: run.itemsTotal, failed: run.itemsFailed, ...cancelReasonData(cancel) },
    });
  }

  /** Moves the item to `to` (checked against the protocol's table), audited. */
  move(item: ItemRecord, to: ItemState, actor: AuditActor, data: JsonObject = {}, readyAt: string | null = null): void {
    assertTransition(itemTransitions, item.state, to, `item ${item.itemId} of run ${item.runId}`);
    this.store.setItemState(item.runId, item.itemId, to, readyAt);
    // An item that no longer awaits approval may have held the earliest deadline: read it again.
    if (item.state === 'awaiting-approval') this.approvals.forget();
    this.audited(item, to, actor, data);
  }

  /** The entry of a run that grew (a planner's fragment, a forEach's instances, a merge's re-run). */
  runExtended(runId: string, data: JsonObject): void {
    this.audit.append({ actor: engineActor, action: 'run.extended', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data });
  }

  /** The audit entry of an item entering `to`. */
  audited(item: Pick<ItemRecord, 'runId' | 'itemId'>, to: ItemState, actor: AuditActor, data: JsonObject): void {
    auditItemEntered(this.audit, item, to, actor, data);
  }

  /** The approval policy of an item that waits for approval, from its stored spec (defaults applied). */
  policyOf(item: Pick<ItemRecord, 'runId' | 'itemId'>): ApprovalPolicy {
    const stored = this.store.itemSpec(item.runId, item.itemId);
    return approvalPolicyOf(stored === undefined ? 'required' : (JSON.parse(stored.spec) as ItemSpec).approval) ?? approvalPolicyOf('required')!;
  }

  requireRun(runId: string): RunRecord {
    const run = this.store.run(runId);
    if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { details: { runId } });
    return run;
  }

  requireAwaiting(runId: string, itemId: string): ItemRecord {
    const item = this.requireItem(runId, itemId);
    if (item.state !== 'awaiting-approval') {
      throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', `Item ${itemId} of run ${runId} is ${item.state}, not awaiting approval.`, {
        details: { state: item.state },
      });
    }
    return item;
  }

  requireItem(runId: string, itemId: string): ItemRecord {
    const item = this.store.item(runId, itemId);
    if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} does not exist.`, { details: { runId, itemId } });
    return item;
  }
}
