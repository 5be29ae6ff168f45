import type { AuditActor, ItemSpec } from '@cairn/core';
import { approvalPolicyOf } from '@cairn/protocol';
import type { ApprovalVoteRecord, ItemApprovalRecord } from '../../records/approval-records.ts';

/** A vote as stored (`approval_votes`), the actor as JSON; `voter` is the principal it counts for. */
export interface ApprovalVoteRow {
  readonly itemId: string;
  readonly voter: string;
  readonly actor: string;
  readonly decision: string;
  readonly votedAt: string;
  readonly reason: string | null;
}

/** The columns of a vote's row as `ApprovalVoteRow` names them, in both stores' SQL. */
export const approvalVoteColumns = 'item_id AS "itemId", voter, actor, decision, voted_at AS "votedAt", reason';

export function approvalVoteOfRow(row: ApprovalVoteRow): ApprovalVoteRecord {
  return {
    itemId: row.itemId,
    actor: JSON.parse(row.actor) as AuditActor,
    principal: row.voter,
    decision: row.decision === 'reject' ? 'reject' : 'approve',
    votedAt: row.votedAt,
    reason: row.reason,
  };
}

/** The approvals of a run's items from their specs and the run's votes (as both stores read them). */
export function itemApprovalsOf(items: readonly { itemId: string; spec: string }[], votes: readonly ApprovalVoteRow[]): ItemApprovalRecord[] {
  const byItem = Map.groupBy(votes.map(approvalVoteOfRow), (vote) => vote.itemId);
  return items.flatMap(({ itemId, spec }) => {
    const policy = approvalPolicyOf((JSON.parse(spec) as ItemSpec).approval);
    return policy === null ? [] : [{ itemId, policy, votes: byItem.get(itemId) ?? [] }];
  });
}
