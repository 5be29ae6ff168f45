import type { AttemptFailure, AuditActor, JsonObject } from '@cairn/core';
import { type ApprovalPolicy, CairnError } from '@cairn/protocol';
import { engineActor } from '../engine-actor.ts';
import { isoTime } from '../iso-time.ts';
import { checkVoter, expiredApprovalFailure, principalOfVoter, type Voter } from './approval-votes.ts';
import type { ItemRecord } from '../records/run-records.ts';
import type { RunLifecycle } from './run-lifecycle.ts';

/**
 * The approval gate of items that wait for it (`approval: required`, or a policy, ADR 0041):
 * approving, rejecting, votes, and the deadline after which a wait fails (or, under a policy that
 * says so, is approved). Part of `RunStateMachine`, which answers for it.
 */
export class ItemApprovals {
  readonly #lifecycle: RunLifecycle;

  constructor(lifecycle: RunLifecycle) {
    this.#lifecycle = lifecycle;
  }

  /**
   * An awaiting item is approved by an actor (with the reason they gave, if any) and becomes ready.
   * Under an approval policy (ADR 0041) the approval is a vote, recorded and audited
   * (`item.approval-voted`), and the item becomes ready (`item.approved`, naming every approving
   * principal) with the vote that makes `required` distinct principals whose access still holds
   * (ADR 0046), in the same transaction. `voter` is what the host knows of the actor: roles and
   * groups (the policy's `from` is checked against them), principal, and the lapsed approvals.
   */
  approveItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const item = lifecycle.requireAwaiting(runId, itemId);
      const policy = lifecycle.policyOf(item);
      let data: JsonObject = reason === undefined ? {} : { reason };
      if (!policy.single) {
        const approvers = this.#vote(item, policy, actor, voter, 'approve', reason);
        if (approvers.length < policy.required) return;
        data = { ...data, approvers };
      }
      lifecycle.audit.append({ actor, action: 'item.approved', entity: { kind: 'item', id: `${runId}/${itemId}` }, outcome: 'success', runId, data });
      lifecycle.move(item, 'ready', actor, {}, isoTime(lifecycle.now()));
    })();
  }

  /**
   * An awaiting item is rejected by an actor: it fails (with `reason`) and its dependents are
   * skipped. Under an approval policy the rejection is a vote (audited as one, then the rejection):
   * it needs a reason (CAIRN_PAYLOAD_INVALID) and a voter the policy counts (`checkVoter`).
   */
  rejectItem(runId: string, itemId: string, actor: AuditActor, reason?: string, voter: Voter = {}): void {
    const lifecycle = this.#lifecycle;
    lifecycle.inTransaction(() => {
      const item = lifecycle.requireAwaiting(runId, itemId);
      const policy = lifecycle.policyOf(item);
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
      lifecycle.audit.append({
        actor,
        action: 'item.rejected',
        entity: { kind: 'item', id: `${runId}/${itemId}` },
        outcome: 'success',
        runId,
        data: { reason },
      });
      lifecycle.store.setFailure(
        runId,
        itemId,
        unranFailure('CAIRN_APPROVAL_REJECTED', `${actor.id} rejected the item's approval: ${reason}. It did not run.`),
      );
      lifecycle.move(item, 'failed', actor, { reason: `approval rejected: ${reason}`, failure: { code: 'CAIRN_APPROVAL_REJECTED' } });
      lifecycle.endedEarly(runId, itemId, true);
    })();
  }

  /**
   * Fails awaiting items whose approval has timed out by now (at most `limit` per call); returns
   * how many. Found by index: the cost does not grow with the items stored.
   */
  expireApprovals(limit = 1_000): number {
    const lifecycle = this.#lifecycle;
    // The loop asks on every turn: nothing read while no deadline can have passed, otherwise one
    // index read, and a transaction only when something expired.
    const now = lifecycle.now();
    if (lifecycle.approvals.noneDueBy(now)) return 0;
    const expired = lifecycle.store.expiredApprovals(isoTime(now), limit);
    // Read again: more may be due (past `limit`), and this transaction may fail. With none
    // expired, the earliest was known early (an item left the wait): read it now.
    lifecycle.approvals.forget();
    if (expired.length === 0) {
      lifecycle.approvals.next();
      return 0;
    }
    return lifecycle.inTransaction(() => {
      for (const item of expired) {
        const policy = lifecycle.policyOf(item);
        const approvals = lifecycle.votes.ofItem(item.runId, item.itemId).filter((vote) => vote.decision === 'approve').length;
        if (policy.onTimeout === 'approve') {
          // The policy says a wait that times out lets the item run: approved by the engine, as audited.
          lifecycle.audit.append({
            actor: engineActor,
            action: 'item.approved',
            entity: { kind: 'item', id: `${item.runId}/${item.itemId}` },
            outcome: 'success',
            runId: item.runId,
            data: { onTimeout: 'approve', approvals, required: policy.required },
          });
          lifecycle.move(item, 'ready', engineActor, {}, isoTime(now));
          continue;
        }
        const { message, reason } = expiredApprovalFailure(policy, approvals, lifecycle.approvalTimeoutMs);
        lifecycle.store.setFailure(item.runId, item.itemId, unranFailure('CAIRN_APPROVAL_TIMED_OUT', message));
        lifecycle.move(item, 'failed', engineActor, { reason, failure: { code: 'CAIRN_APPROVAL_TIMED_OUT' } });
        lifecycle.endedEarly(item.runId, item.itemId, true);
      }
      return expired.length;
    })();
  }

  /** When the next approval times out, if any item awaits one. */
  nextApprovalDeadline(): string | null {
    return this.#lifecycle.approvals.next();
  }

  // A vote under a policy: checked (who may vote, once per principal), stored and audited. The
  // approvals of principals the host found lapsed (access revoked since they voted) are dropped
  // first, and the entry says so: the item waits for others rather than running on them. Returns
  // the principals who approve the item, this vote included.
  #vote(item: ItemRecord, policy: ApprovalPolicy, actor: AuditActor, voter: Voter, decision: 'approve' | 'reject', reason: string | undefined): string[] {
    const lifecycle = this.#lifecycle;
    const { runId, itemId } = item;
    const principal = principalOfVoter(actor, voter);
    let votes = lifecycle.votes.ofItem(runId, itemId);
    const lapsedReasons = new Map((voter.lapsed ?? []).map((lapse) => [lapse.principal, lapse.reason]));
    // A rejection fails the item whoever approved it: only an approval needs the others to count.
    const lapsed =
      decision === 'approve' ? votes.filter((vote) => vote.decision === 'approve' && lapsedReasons.has(vote.principal) && vote.principal !== principal) : [];
    for (const vote of lapsed) lifecycle.votes.remove(runId, itemId, vote.principal);
    if (lapsed.length > 0) votes = votes.filter((vote) => !lapsed.includes(vote));
    const counted = checkVoter({ runId, itemId, submittedBy: lifecycle.requireRun(runId).submittedBy }, policy, votes, actor, voter);
    lifecycle.votes.record(runId, itemId, principal, actor, decision, isoTime(lifecycle.now()), reason ?? null);
    const approvers = [...votes.filter((vote) => vote.decision === 'approve').map((vote) => vote.principal), ...(decision === 'approve' ? [principal] : [])];
    lifecycle.audit.append({
      actor,
      action: 'item.approval-voted',
      entity: { kind: 'item', id: `${runId}/${itemId}` },
      outcome: 'success',
      runId,
      data: {
        decision,
        ...(principal === actor.id ? {} : { principal }),
        approvals: approvers.length,
        required: policy.required,
        ...(counted.length === 0 ? {} : { as: counted }),
        ...(reason === undefined ? {} : { reason }),
        ...(lapsed.length === 0
          ? {}
          : {
              lapsed: lapsed.map((vote) => ({
                principal: vote.principal,
                votedAt: vote.votedAt,
                message: `approval by ${vote.principal} no longer counts: ${lapsedReasons.get(vote.principal)!}`,
              })),
            }),
      },
    });
    return approvers;
  }
}

/** Why an item that never ran failed: no runtime ended, so no exit code, signal or stderr. */
function unranFailure(code: string, message: string): AttemptFailure {
  return { code, message, exitCode: null, signal: null, stderrTail: '' };
}
