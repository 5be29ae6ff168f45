import type { ItemView } from '@cairn/client';

/**
 * What `cairn approve` and `cairn reject` say of an item they voted on: `approved: item deploy of
 * run R`, and under an approval policy how far it is (`1 of 2 approvals (bo); waiting for 1 more
 * from release-managers`).
 */
export function approvalProgress(done: 'approved' | 'rejected', runId: string, item: ItemView): string {
  const head = `${done}: item ${item.itemId} of run ${runId}`;
  const approval = item.approval;
  // `approval: required` records no votes: one approval released it, as the head line says.
  if (approval === undefined || approval.votes.length === 0) return head;
  const approvers = approval.votes.filter((vote) => vote.decision === 'approve').map((vote) => vote.actor);
  const tally = `${approval.approvals} of ${approval.required} approvals${approvers.length === 0 ? '' : ` (${approvers.join(', ')})`}`;
  if (item.state !== 'awaiting-approval') return `${head}\n${tally}; the item is ${item.state}`;
  const from = approval.from === undefined ? '' : ` from ${approval.from.join(' or ')}`;
  const others = approval.selfApproval ? '' : ', not the submitter';
  return `${head}\n${tally}; waiting for ${approval.needed} more${from}${others}`;
}
