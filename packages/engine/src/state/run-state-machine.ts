import type { AttemptFailure, AuditActor, BudgetSpec, ItemSpec, ItemState, JsonObject, RunSpecV1 } from '@cairn/core';
import {
  approvalPolicyOf,
  type ApprovalPolicy,
  assertTransition,
  CairnError,
  canonicalJson,
  isTerminalState,
  itemPriority,
  itemTransitions,
  needsApproval,
  priorityLevels,
  runPriority,
  runTransitions,
} from '@cairn/protocol';
import type { AuditLog } from '../audit/audit-log.ts';
import type { WorkingCopy } from '../store/sqlite/working-copy.ts';
import { newRunId } from './new-run-id.ts';
import {
  checkedSubmission,
  fetchedWorkspace,
  grantedSecrets,
  insertItemRows,
  itemEdges,
  withDefaults,
  type SubmitOptions,
  type SubmitResult,
} from './run-submission.ts';
import type { CheckedFragment } from './run-fragment.ts';
import { cancelReasonData, decodeCancelRequest, encodeCancelRequest, type CancelRequest } from './cancel-request.ts';
import type { ItemRecord, RunProgress, RunRecord } from './run-records.ts';
import type { NewItem, ReadyCandidate, RunStore } from '../store/sqlite/run-store.ts';
import { engineActor } from '../engine-actor.ts';
import type { AttemptStore, ItemAttemptRecord } from '../store/sqlite/attempt-store.ts';
import { isoTime } from '../iso-time.ts';
import { ApprovalDeadlines } from './approval-deadlines.ts';
import { auditItemEntered } from './item-entry-audit.ts';
import { checkVoter, expiredApprovalFailure, type Voter } from './approval-votes.ts';
import type { ApprovalVoteTable } from '../store/sqlite/approval-vote-table.ts';

export type { SubmitOptions, SubmitResult } from './run-submission.ts';

/** How a running item ended. */
export type ItemOutcome = 'succeeded' | 'failed' | 'cancelled';

export interface RunStateMachineSettings {
  readonly now?: () => number;
  /** The executor of items that name none. */
  readonly defaultExecutor?: string;
  /** How long an item waits for approval before it fails; 7 days by default. */
  readonly approvalTimeoutMs?: number;
}

const defaultApprovalTimeoutMs = 7 * 24 * 3_600_000;

/**
 * The lifecycle of runs and items in the engine database. Every transition is checked against
 * the protocol's transition tables, written with its audit entries in one transaction, and
 * event-driven: finishing an item touches only its dependents (found by index), never the rest
 * of the run or the history.
 */
export class RunStateMachine {
  readonly #workingCopy: WorkingCopy;
  readonly #audit: AuditLog;
  readonly #store: RunStore;
  readonly #attempts: AttemptStore;
  readonly #now: () => number;
  readonly #defaultExecutor: string;
  readonly #approvalTimeoutMs: number;
  readonly #approvals: ApprovalDeadlines;
  readonly #votes: ApprovalVoteTable;

  constructor(workingCopy: WorkingCopy, audit: AuditLog, settings: RunStateMachineSettings = {}) {
    this.#workingCopy = workingCopy;
    this.#audit = audit;
    this.#store = workingCopy.runs;
    this.#attempts = workingCopy.attempts;
    this.#votes = workingCopy.approvalVotes;
    this.#approvals = new ApprovalDeadlines(() => this.#store.nextApprovalDeadline());
    this.#now = settings.now ?? Date.now;
    this.#defaultExecutor = settings.defaultExecutor ?? 'local';
    this.#approvalTimeoutMs = settings.approvalTimeoutMs ?? defaultApprovalTimeoutMs;
  }

  /**
   * Validates and stores a run (YAML/JSON text or a parsed value). With an idempotency key, the
   * same key and the same spec return the existing run; the same key with another spec is
   * CAIRN_IDEMPOTENCY_CONFLICT. Items without prerequisites become ready (or await approval).
   */
  submit(document: unknown, options: SubmitOptions): SubmitResult {
    const { spec, digest, canonical, idempotencyKey } = checkedSubmission(document, options);
    const secrets = grantedSecrets(spec, options, this.#audit);
    // Keys are the submitter's own: another principal using the same key gets a run of its own.
    const scopedKey = idempotencyKey === null ? null : `${options.actor.id}\u001f${idempotencyKey}`;
    return this.#inTransaction((): SubmitResult => {
      if (scopedKey !== null) {
        const existing = this.#store.runByIdempotencyKey(scopedKey);
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
      const now = this.#now();
      const runId = options.runId ?? newRunId(now);
      const taken = options.runId === undefined ? undefined : this.#store.run(runId);
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
      this.#store.insertRun({
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
      this.#audit.append({
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
      const rootPositions = insertItemRows(spec, { runId, readyAt, defaultExecutor: this.#defaultExecutor }, (rows) => this.#store.insertItems(rows));
      this.#store.insertEdges(runId, itemEdges(spec));
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
        if (approvalRequired) this.#release(root, now);
        else this.#audited(root, 'ready', engineActor, {});
      }
      return { runId, created: true, specDigest: digest };
    })();
  }

  /** A ready item starts running (its run with it, on the first). */
  startItem(runId: string, itemId: string, actor: AuditActor = engineActor): void {
    this.#inTransaction(() => this.#start(this.#requireRun(runId), this.#requireItem(runId, itemId), actor))();
  }

  /**
   * Starts the item as `startItem` does, unless it can no longer start (another pass or a cancel
   * moved it first): then false, with nothing read twice and nothing written, so a batch can go
   * on without a savepoint to undo it.
   */
  startItemIfStartable(runId: string, itemId: string, actor: AuditActor = engineActor): boolean {
    return this.#inTransaction(() => {
      // One statement on the common path: the move from ready (the one state running is entered
      // from, and entering it is not audited: the attempt is) answers the run's state.
      const runState = this.#store.startIfReady(runId, itemId);
      if (runState === undefined) {
        this.#requireItem(runId, itemId);
        return false;
      }
      if (runState === 'queued') this.#runStarted(runId, actor);
      return true;
    })();
  }

  // The item runs, and its run with it on the first start.
  #start(run: RunRecord, item: ItemRecord, actor: AuditActor): void {
    this.#move(item, 'running', actor);
    if (run.state === 'queued') this.#runStarted(run.runId, actor);
  }

  // A queued run's first item started.
  #runStarted(runId: string, actor: AuditActor): void {
    assertTransition(runTransitions, 'queued', 'running', `run ${runId}`);
    this.#store.setRunState(runId, 'running');
    this.#audit.append({ actor, action: 'run.started', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data: {} });
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
    this.#inTransaction(() => {
      // A success with its artifacts (every task's) is one update from running, which answers
      // whether anything depends on the item: no read of the item first. Anything else, or an item
      // not running (the update then writes nothing), goes the way that reads it and says why not.
      const succeeded = outcome === 'succeeded' && artifacts !== undefined ? this.#store.succeedIfRunning(runId, itemId, artifacts) : undefined;
      let hasDependents: boolean;
      let cancelledOnItsOwn = false;
      if (succeeded !== undefined) {
        hasDependents = succeeded.hasDependents;
        this.#audited({ runId, itemId }, 'succeeded', actor, data);
      } else {
        const item = this.#store.itemWithDependents(runId, itemId);
        if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} does not exist.`, { details: { runId, itemId } });
        const stored = outcome === 'cancelled' ? (item.cancelRequestedBy ?? this.#requireRun(runId).cancelRequestedBy) : null;
        const cancel = stored === null ? null : decodeCancelRequest(stored);
        this.#move(item, outcome, cancel === null ? actor : cancel.actor, { ...data, ...cancelReasonData(cancel) });
        hasDependents = item.hasDependents;
        cancelledOnItsOwn = outcome === 'cancelled' && item.cancelRequestedBy !== null;
      }
      let run = this.#store.itemFinished(runId, outcome === 'failed' || cancelledOnItsOwn);
      if (outcome === 'succeeded' && run.cancelRequestedBy === null) {
        // Nothing depends on it (read with it): no dependents to look up.
        for (const dependent of hasDependents ? this.#store.dependents(runId, itemId) : []) {
          // A dependent cancelled on its own meanwhile has already ended: it stays so.
          const waiting = this.#store.prerequisiteSucceeded(runId, dependent);
          if (waiting.waitingOn === 0 && waiting.state === 'blocked') {
            this.#release(waiting, this.#now());
            released?.(waiting.itemId);
          }
        }
      } else if (outcome !== 'succeeded') {
        run = this.#skipDownstream(runId, itemId) ?? run;
      }
      if (run.itemsFinished === run.itemsTotal) this.#finishRun(run);
    })();
  }

  /**
   * Cancels a run: items not started are cancelled now; running items are left to the dispatcher,
   * which stops them through their executor and records them cancelled. The run ends `cancelled`
   * (its terminal audit entry, naming `actor`) when its last item has ended — at once if nothing
   * was running. Cancelling a run that already ended is a CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  cancelRun(runId: string, actor: AuditActor, reason?: string): void {
    this.#inTransaction(() => {
      const run = this.#requireRun(runId);
      assertTransition(runTransitions, run.state, 'cancelled', `run ${runId}`);
      const request: CancelRequest = reason === undefined ? { actor } : { actor, reason };
      this.#store.requestCancel(runId, encodeCancelRequest(request));
      let updated: RunProgress = this.#requireRun(runId);
      for (const item of this.#store.items(runId)) {
        if (item.state === 'running' || isTerminalState(itemTransitions, item.state)) continue;
        this.#move(item, 'cancelled', actor, cancelReasonData(request));
        updated = this.#store.itemFinished(runId, false);
      }
      if (updated.itemsFinished === updated.itemsTotal) this.#finishRun(updated);
    })();
  }

  /**
   * Cancels one item: one that has not started is cancelled now (its dependents skipped); a
   * running one is stopped through its executor by the dispatcher and ends cancelled, naming
   * `actor`, once its task has stopped. Cancelling an item that already ended is a
   * CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  cancelItem(runId: string, itemId: string, actor: AuditActor, reason?: string): void {
    this.#inTransaction(() => {
      const item = this.#requireItem(runId, itemId);
      assertTransition(itemTransitions, item.state, 'cancelled', `item ${itemId} of run ${runId}`);
      const request: CancelRequest = reason === undefined ? { actor } : { actor, reason };
      if (item.state === 'running') {
        this.#store.requestItemCancel(runId, itemId, encodeCancelRequest(request));
        this.#attempts.requestStopForItem(runId, itemId);
        return;
      }
      this.#move(item, 'cancelled', actor, cancelReasonData(request));
      this.#endedEarly(runId, itemId, true);
    })();
  }

  /**
   * An awaiting item is rejected by an actor: it fails (with `reason`) and its dependents are
   * skipped. Under an approval policy the rejection is a vote (audited as one, then the rejection):
   * it needs a reason (CAIRN_PAYLOAD_INVALID) and a voter the policy counts (`checkVoter`).
   */
  rejectItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    this.#inTransaction(() => {
      const item = this.#requireAwaiting(runId, itemId);
      const policy = this.#policyOf(item);
      if (!policy.single) {
        if (reason === undefined || reason.trim() === '')
          throw new CairnError(
            'CAIRN_PAYLOAD_INVALID',
            `Item ${itemId} of run ${runId} waits under an approval policy: a rejection needs a reason (--reason, or "reason" in the body), kept in the audit log.`,
            { path: 'reason', details: { runId, itemId } },
          );
        this.#vote(item, policy, actor, voter, 'reject', reason);
      }
      reason ??= 'rejected';
      this.#audit.append({ actor, action: 'item.rejected', entity: { kind: 'item', id: `${runId}/${itemId}` }, outcome: 'success', runId, data: { reason } });
      this.#store.setFailure(runId, itemId, unranFailure('CAIRN_APPROVAL_REJECTED', `${actor.id} rejected the item's approval: ${reason}. It did not run.`));
      this.#move(item, 'failed', actor, { reason: `approval rejected: ${reason}`, failure: { code: 'CAIRN_APPROVAL_REJECTED' } });
      this.#endedEarly(runId, itemId, true);
    })();
  }

  /**
   * Fails awaiting items whose approval has timed out by now (at most `limit` per call); returns
   * how many. Found by index: the cost does not grow with the items stored.
   */
  expireApprovals(limit = 1_000): number {
    // The loop asks on every turn: nothing read while no deadline can have passed, otherwise one
    // index read, and a transaction only when something expired.
    const now = this.#now();
    if (this.#approvals.noneDueBy(now)) return 0;
    const expired = this.#store.expiredApprovals(isoTime(now), limit);
    // Read again: more may be due (past `limit`), and this transaction may fail. With none
    // expired, the earliest was known early (an item left the wait): read it now.
    this.#approvals.forget();
    if (expired.length === 0) {
      this.#approvals.next();
      return 0;
    }
    return this.#inTransaction(() => {
      for (const item of expired) {
        const policy = this.#policyOf(item);
        const approvals = this.#votes.ofItem(item.runId, item.itemId).filter((vote) => vote.decision === 'approve').length;
        if (policy.onTimeout === 'approve') {
          // The policy says a wait that times out lets the item run: approved by the engine, as audited.
          this.#audit.append({
            actor: engineActor,
            action: 'item.approved',
            entity: { kind: 'item', id: `${item.runId}/${item.itemId}` },
            outcome: 'success',
            runId: item.runId,
            data: { onTimeout: 'approve', approvals, required: policy.required },
          });
          this.#move(item, 'ready', engineActor, {}, isoTime(now));
          continue;
        }
        const { message, reason } = expiredApprovalFailure(policy, approvals, this.#approvalTimeoutMs);
        this.#store.setFailure(item.runId, item.itemId, unranFailure('CAIRN_APPROVAL_TIMED_OUT', message));
        this.#move(item, 'failed', engineActor, { reason, failure: { code: 'CAIRN_APPROVAL_TIMED_OUT' } });
        this.#endedEarly(item.runId, item.itemId, true);
      }
      return expired.length;
    })();
  }

  /** When the next approval times out, if any item awaits one. */
  nextApprovalDeadline(): string | null {
    return this.#approvals.next();
  }

  /**
   * A planner's checked fragment joins its run (ADR 0034), in the transaction that records the
   * planner's success and before it: its items are inserted with the run's defaults, those waiting
   * on nothing of the fragment ready at once; each item that depends on the emitter now also waits
   * for the fragment's sinks (a join); the run counts them; and one `run.extended` entry names the
   * emitter, its attempt and the fragment's digest.
   */
  extendRun(runId: string, emitterId: string, attempt: number, fragment: CheckedFragment, more: JsonObject = {}): void {
    this.#inTransaction(() => {
      const run = this.#requireRun(runId);
      const runSpec = JSON.parse(this.#store.spec(runId)!) as RunSpecV1;
      const now = this.#now();
      const readyAt = isoTime(now);
      const waits = new Map<string, number>();
      for (const [, dependent] of fragment.edges) waits.set(dependent, (waits.get(dependent) ?? 0) + 1);
      const rows: NewItem[] = fragment.items.map((item, index) => {
        const effective = withDefaults(runSpec, item);
        const waitingOn = waits.get(item.id) ?? 0;
        const approvalRequired = needsApproval(item.approval);
        const releasedReady = waitingOn === 0 && !approvalRequired;
        return {
          runId,
          itemId: item.id,
          position: run.itemsTotal + index,
          state: releasedReady ? 'ready' : 'blocked',
          readyAt: releasedReady ? readyAt : null,
          waitingOn,
          approvalRequired,
          spec: canonicalJson(effective),
          executor: effective.executor ?? this.#defaultExecutor,
          priority: effective.priority ?? priorityLevels.default,
        };
      });
      for (let start = 0; start < rows.length; start += 1_024) this.#store.insertItems(rows.slice(start, start + 1_024));
      const dependents = fragment.sinks.length === 0 ? [] : this.#store.dependents(runId, emitterId);
      this.#store.insertEdges(runId, [...fragment.edges, ...dependents.flatMap((dependent) => fragment.sinks.map((sink) => [sink, dependent] as const))]);
      for (const dependent of dependents) this.#store.addWaits(runId, dependent, fragment.sinks.length);
      this.#store.addItems(runId, rows.length);
      this.#runExtended(runId, { attempt, emitter: emitterId, fragment: fragment.digest, items: rows.length, ...more });
      for (const row of rows) {
        if (row.waitingOn > 0) continue;
        const root: ItemRecord = { ...row, state: 'blocked', readyAt: null, cancelRequestedBy: null, failure: null, lockWait: null };
        if (row.approvalRequired) this.#release(root, now);
        else this.#audited(root, 'ready', engineActor, {});
      }
    })();
  }

  /**
   * A merge whose patch from `producer` conflicted, with `onConflict: rerun` (ADR 0035): in the
   * transaction that records its failed attempt, `rerun` (the producer's spec, made to apply what
   * was merged before it) joins the run as a ready item, and the merge, running, waits for it
   * (`item.blocked`) to merge its patch in the producer's place. One `run.extended` entry names the
   * merge, its attempt, the producer and what the re-run builds on: the whole of what was added.
   */
  rerunForMerge(
    runId: string,
    mergeId: string,
    attempt: number,
    rerun: ItemSpec,
    data: { readonly producer: string; readonly merged: readonly string[] },
  ): void {
    this.#inTransaction(() => {
      const run = this.#requireRun(runId);
      const merge = this.#requireItem(runId, mergeId);
      const readyAt = isoTime(this.#now());
      const row: NewItem = {
        runId,
        itemId: rerun.id,
        position: run.itemsTotal,
        state: 'ready',
        readyAt,
        waitingOn: 0,
        approvalRequired: false,
        spec: canonicalJson(rerun),
        executor: rerun.executor ?? this.#defaultExecutor,
        // The producer's effective spec, its priority with it.
        priority: rerun.priority ?? priorityLevels.default,
      };
      this.#store.insertItems([row]);
      this.#store.insertEdges(runId, [[rerun.id, mergeId]]);
      this.#store.addWaits(runId, mergeId, 1);
      this.#store.addItems(runId, 1);
      this.#runExtended(runId, { attempt, emitter: mergeId, items: 1, rerun: { item: rerun.id, merged: [...data.merged], producer: data.producer } });
      this.#move(merge, 'blocked', engineActor, { because: rerun.id });
      this.#audited({ runId, itemId: rerun.id }, 'ready', engineActor, {});
    })();
  }

  /**
   * The run's model spend reached its budget (the gateway saw it, ADR 0033): a running run waits in
   * `awaiting-budget`, starting no agent items, until its budget is raised or it is cancelled. True
   * when it moved; false for a run already waiting, or one not running (nothing to hold).
   */
  awaitBudget(runId: string, data: JsonObject): boolean {
    return this.#inTransaction(() => {
      const run = this.#requireRun(runId);
      if (run.state !== 'running' || run.cancelRequestedBy !== null) return false;
      this.#store.setRunState(runId, 'awaiting-budget');
      this.#audit.append({ actor: engineActor, action: 'run.budget-exhausted', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data });
      return true;
    })();
  }

  /**
   * An actor gives a run a new budget (`budget`, with the reason they gave): a run awaiting one
   * runs again. Whether it is more than the run has spent is the caller's to check (the spend is the
   * gateway's); a run that already ended is a CAIRN_LIFECYCLE_TRANSITION_INVALID.
   */
  raiseBudget(runId: string, budget: BudgetSpec, actor: AuditActor, reason: string): void {
    this.#inTransaction(() => {
      const run = this.#requireRun(runId);
      if (isTerminalState(runTransitions, run.state))
        throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', `Run ${runId} has ended (${run.state}): its budget can no longer be raised.`, {
          details: { runId, state: run.state },
        });
      const state = run.state === 'awaiting-budget' ? 'running' : run.state;
      if (state !== run.state) {
        this.#store.setRunState(runId, state);
        // The agent items dispatch passes set aside meanwhile are ready again.
        this.#store.unparkReady(runId, isoTime(this.#now()));
      }
      this.#audit.append({
        actor,
        action: 'run.budget-raised',
        entity: { kind: 'run', id: runId },
        outcome: 'success',
        runId,
        data: { budget: { ...budget }, reason, state },
      });
    })();
  }

  /**
   * An awaiting item is approved by an actor (with the reason they gave, if any) and becomes ready.
   * Under an approval policy (ADR 0041) the approval is a vote, recorded and audited
   * (`item.approval-voted`), and the item becomes ready (`item.approved`, naming every approver)
   * with the vote that makes `required`, in the same transaction. `voter` is what the authorizer
   * knows of the actor (roles, groups), which the policy's `from` is checked against.
   */
  approveItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    this.#inTransaction(() => {
      const item = this.#requireAwaiting(runId, itemId);
      const policy = this.#policyOf(item);
      let data: JsonObject = reason === undefined ? {} : { reason };
      if (!policy.single) {
        const approvers = this.#vote(item, policy, actor, voter, 'approve', reason);
        if (approvers.length < policy.required) return;
        data = { ...data, approvers };
      }
      this.#audit.append({ actor, action: 'item.approved', entity: { kind: 'item', id: `${runId}/${itemId}` }, outcome: 'success', runId, data });
      this.#move(item, 'ready', actor, {}, isoTime(this.#now()));
    })();
  }

  // A vote under a policy: checked (who may vote, once), stored and audited. Returns the ids of
  // everyone who has approved the item, this vote included.
  #vote(item: ItemRecord, policy: ApprovalPolicy, actor: AuditActor, voter: Voter, decision: 'approve' | 'reject', reason: string | undefined): string[] {
    const { runId, itemId } = item;
    const votes = this.#votes.ofItem(runId, itemId);
    const counted = checkVoter({ runId, itemId, submittedBy: this.#requireRun(runId).submittedBy }, policy, votes, actor, voter);
    this.#votes.record(runId, itemId, actor, decision, isoTime(this.#now()), reason ?? null);
    const approvers = [...votes.filter((vote) => vote.decision === 'approve').map((vote) => vote.actor.id), ...(decision === 'approve' ? [actor.id] : [])];
    this.#audit.append({
      actor,
      action: 'item.approval-voted',
      entity: { kind: 'item', id: `${runId}/${itemId}` },
      outcome: 'success',
      runId,
      data: {
        decision,
        approvals: approvers.length,
        required: policy.required,
        ...(counted.length === 0 ? {} : { as: counted }),
        ...(reason === undefined ? {} : { reason }),
      },
    });
    return approvers;
  }

  // The approval policy of an item that waits for approval, from its stored spec (defaults applied).
  #policyOf(item: Pick<ItemRecord, 'runId' | 'itemId'>): ApprovalPolicy {
    const stored = this.#store.itemSpec(item.runId, item.itemId);
    return approvalPolicyOf(stored === undefined ? 'required' : (JSON.parse(stored.spec) as ItemSpec).approval) ?? approvalPolicyOf('required')!;
  }

  run(runId: string): RunRecord | undefined {
    return this.#store.run(runId);
  }

  items(runId: string): ItemRecord[] {
    return this.#store.items(runId);
  }

  /** What a succeeded item produced (kind → digest), whether it ran or reused a pure result. */
  artifacts(runId: string, itemId: string): Record<string, string> | undefined {
    return this.#store.artifacts(runId, itemId);
  }

  /** The item's attempts, first to last. */
  attempts(runId: string, itemId: string): ItemAttemptRecord[] {
    return this.#attempts.ofItem(runId, itemId);
  }

  /** The run's spec as submitted. */
  spec(runId: string): RunSpecV1 | undefined {
    const text = this.#store.spec(runId);
    return text === undefined ? undefined : (JSON.parse(text) as RunSpecV1);
  }

  /** The oldest items ready now across all runs (FIFO by ready time): what a dispatcher takes next. */
  readyItems(limit: number): ItemRecord[] {
    return this.#store.readyItems(limit, isoTime(this.#now()));
  }

  /**
   * The items the success of `itemId` would make ready, as they are now: its blocked dependents
   * that wait on it alone and need no approval. A guess, read without writing (the dispatcher
   * prepares their dispatch while the success is being recorded); the success itself decides.
   */
  readiedBySuccess(runId: string, itemId: string): ItemRecord[] {
    // Two index searches: the edges, then each dependent by its key. One statement joining them
    // measured ~15 µs a read, these ~2 µs each (a chain has one dependent a hop).
    return this.#store.dependents(runId, itemId).flatMap((dependent) => {
      const item = this.#store.item(runId, dependent);
      return item && item.state === 'blocked' && item.waitingOn === 1 && !item.approvalRequired && item.cancelRequestedBy === null ? [item] : [];
    });
  }

  /**
   * `readyItems(limit)`, each with what its dispatch needs, read `pageSize` at a time as they are
   * taken: a dispatch pass that fills up after a few reads no more rows than it needs.
   */
  readyCandidatesInPages(limit: number, pageSize: number): Iterable<ReadyCandidate> {
    return this.#store.readyCandidatesInPages(limit, pageSize, isoTime(this.#now()));
  }

  /** When the next waiting retry becomes ready, if any (so a dispatcher can sleep until then). */
  nextReadyAt(): string | null {
    return this.#store.nextReadyAt();
  }

  /**
   * A running item whose attempt failed goes back to ready, due at `readyAt` (after its backoff).
   * Audited with the attempt that failed and when the next one may start.
   */
  retryItem(runId: string, itemId: string, readyAt: number, data: JsonObject = {}): void {
    this.#inTransaction(() => {
      this.#move(this.#requireItem(runId, itemId), 'ready', engineActor, { ...data, retryAt: isoTime(readyAt) }, isoTime(readyAt));
    })();
  }

  // An item whose prerequisites all succeeded: ready, or awaiting approval (until a deadline) first.
  #release(item: ItemRecord, now: number): void {
    if (!item.approvalRequired) {
      this.#move(item, 'ready', engineActor, {}, isoTime(now));
      return;
    }
    const deadline = isoTime(now + (this.#policyOf(item).timeoutMs ?? this.#approvalTimeoutMs));
    this.#store.setApprovalDeadline(item.runId, item.itemId, deadline);
    this.#approvals.lower(deadline);
    this.#move(item, 'awaiting-approval', engineActor, { deadline });
  }

  // An item that ended without running (cancelled, rejected, timed out): counted, its dependents
  // skipped, and the run ended if it was the last.
  #endedEarly(runId: string, itemId: string, failed: boolean): void {
    let run = this.#store.itemFinished(runId, failed);
    run = this.#skipDownstream(runId, itemId) ?? run;
    if (run.itemsFinished === run.itemsTotal) this.#finishRun(run);
  }

  #skipDownstream(runId: string, failedItemId: string): RunProgress | undefined {
    let run: RunProgress | undefined;
    const pending = [...this.#store.dependents(runId, failedItemId)];
    while (pending.length > 0) {
      const dependent = this.#requireItem(runId, pending.pop()!);
      if (isTerminalState(itemTransitions, dependent.state)) continue;
      this.#move(dependent, 'skipped', engineActor, { because: failedItemId });
      run = this.#store.itemFinished(runId, false);
      pending.push(...this.#store.dependents(runId, dependent.itemId));
    }
    return run;
  }

  #finishRun(run: RunProgress): void {
    // Items are only skipped after a failure (an item cancelled on its own counts as one), so no
    // failure means every item succeeded.
    const state = run.cancelRequestedBy !== null ? 'cancelled' : run.itemsFailed === 0 ? 'succeeded' : 'failed';
    assertTransition(runTransitions, run.state, state, `run ${run.runId}`);
    this.#store.setRunState(run.runId, state, isoTime(this.#now()));
    const cancel = run.cancelRequestedBy === null ? null : decodeCancelRequest(run.cancelRequestedBy);
    this.#audit.append({
      actor: cancel?.actor ?? engineActor,
      action: `run.${state}`,
      entity: { kind: 'run', id: run.runId },
      outcome: state === 'succeeded' ? 'success' : 'failure',
      runId: run.runId,
      data: { items: run.itemsTotal, failed: run.itemsFailed, ...cancelReasonData(cancel) },
    });
  }

  // Runs `work` in a transaction, or directly inside the caller's (whose failure handling — a
  // savepoint or an abort — then covers it): nested savepoints on every transition cost more than
  // the transitions.
  #inTransaction<T>(work: () => T): () => T {
    return () => this.#workingCopy.inTransaction(work);
  }

  #move(item: ItemRecord, to: ItemState, actor: AuditActor, data: JsonObject = {}, readyAt: string | null = null): void {
    assertTransition(itemTransitions, item.state, to, `item ${item.itemId} of run ${item.runId}`);
    this.#store.setItemState(item.runId, item.itemId, to, readyAt);
    // An item that no longer awaits approval may have held the earliest deadline: read it again.
    if (item.state === 'awaiting-approval') this.#approvals.forget();
    this.#audited(item, to, actor, data);
  }

  // The entry of a run that grew (a planner's fragment, a forEach's instances, a merge's re-run).
  #runExtended(runId: string, data: JsonObject): void {
    this.#audit.append({ actor: engineActor, action: 'run.extended', entity: { kind: 'run', id: runId }, outcome: 'success', runId, data });
  }

  #audited(item: Pick<ItemRecord, 'runId' | 'itemId'>, to: ItemState, actor: AuditActor, data: JsonObject): void {
    auditItemEntered(this.#audit, item, to, actor, data);
  }

  #requireRun(runId: string): RunRecord {
    const run = this.#store.run(runId);
    if (!run) throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { details: { runId } });
    return run;
  }

  #requireAwaiting(runId: string, itemId: string): ItemRecord {
    const item = this.#requireItem(runId, itemId);
    if (item.state !== 'awaiting-approval') {
      throw new CairnError('CAIRN_LIFECYCLE_TRANSITION_INVALID', `Item ${itemId} of run ${runId} is ${item.state}, not awaiting approval.`, {
        details: { state: item.state },
      });
    }
    return item;
  }

  #requireItem(runId: string, itemId: string): ItemRecord {
    const item = this.#store.item(runId, itemId);
    if (!item) throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} does not exist.`, { details: { runId, itemId } });
    return item;
  }
}

/** Why an item that never ran failed: no runtime ended, so no exit code, signal or stderr. */
function unranFailure(code: string, message: string): AttemptFailure {
  return { code, message, exitCode: null, signal: null, stderrTail: '' };
}
