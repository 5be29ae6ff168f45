import type { AuditActor } from '@cairn/core';
import { isoTime } from '../iso-time.ts';
import type { RunLifecycle } from './run-lifecycle.ts';

/**
 * A principal's access to approve has ended (the host revoked their last token granting it, ADR
 * 0046): their approvals of items that have not started no longer count. In one transaction, for
 * each item they approved that awaits approval, or is `ready` and was never attempted: the vote is
 * dropped, and an entry says why (`lapsed: [{ principal, votedAt, message }]`, the shape of a
 * vote's entry). A `ready` item whose remaining approvals fall short of `required` goes back to
 * `awaiting-approval` (`item.approval-requested`, with the lapse), waiting the policy's timeout
 * again counted from now: the wait it had ended when it was approved, and an approver who is
 * asked again needs the time any approver is given. A ready item still approved by enough others
 * stays ready (`item.approved` again, naming those who still approve). An item still awaiting
 * approval keeps its deadline. Only votes cast with a token are judged: a person who voted
 * through the identity provider holds their access there. `rolesKept`, when the principal may
 * still approve (another live token), are its roles: an approval under a policy that any of them
 * still satisfies stands. Returns how many items lost an approval.
 */
export function lapseApprovals(lifecycle: RunLifecycle, principal: string, reason: string, actor: AuditActor, rolesKept?: readonly string[]): number {
  return lifecycle.inTransaction(() => {
    let lapsedOn = 0;
    for (const { runId, itemId } of lifecycle.votes.unstartedApprovedBy(principal)) {
      const item = lifecycle.requireItem(runId, itemId);
      const policy = lifecycle.policyOf(item);
      const vote = lifecycle.votes.ofItem(runId, itemId).find((each) => each.principal === principal)!;
      if (vote.actor.kind !== 'token') continue;
      if (rolesKept !== undefined && (policy.from === null || policy.from.some((role) => rolesKept.includes(role)))) continue;
      lapsedOn += 1;
      lifecycle.votes.remove(runId, itemId, principal);
      const approvers = lifecycle.votes
        .ofItem(runId, itemId)
        .filter((each) => each.decision === 'approve')
        .map((each) => each.principal);
      const lapsed = [{ principal, votedAt: vote.votedAt, message: `approval by ${principal} no longer counts: ${reason}` }];
      const data = { lapsed, approvals: approvers.length, required: policy.required };
      if (item.state === 'ready' && approvers.length >= policy.required) {
        lifecycle.audit.append({
          actor,
          action: 'item.approved',
          entity: { kind: 'item', id: `${runId}/${itemId}` },
          outcome: 'success',
          runId,
          data: { approvers, lapsed },
        });
      } else if (item.state === 'ready') {
        const deadline = isoTime(lifecycle.now() + (policy.timeoutMs ?? lifecycle.approvalTimeoutMs));
        lifecycle.store.setApprovalDeadline(runId, itemId, deadline);
        lifecycle.approvals.lower(deadline);
        lifecycle.move(item, 'awaiting-approval', actor, { deadline, ...data });
      } else {
        // Still waiting: the entry of the wait it is in, now with one approval fewer.
        lifecycle.audited(item, 'awaiting-approval', actor, data);
      }
    }
    return lapsedOn;
  })();
}
