import type { EngineService, ItemApprovalRecord } from '@cairn/engine';
import { formatDuration } from '@cairn/protocol';
import { z } from 'zod';

/** An item's approval as the API shows it (ADR 0041): its policy, who voted, and how many approvals it still waits for. */
export const itemApprovalViewSchema = z
  .strictObject({
    required: z.int().min(1).meta({ description: 'How many distinct approvers it needs (1 for approval: required)' }),
    from: z
      .array(z.string())
      .optional()
      .meta({ description: 'The roles or groups an approver needs one of; absent when anyone allowed to approve (runs:approve) counts' }),
    selfApproval: z.boolean().meta({ description: "Whether the run's submitter may approve it (true for approval: required)" }),
    timeout: z.string().optional().meta({ description: "How long it waits for its approvals; absent for the server's approvalTimeoutMs" }),
    onTimeout: z.enum(['reject', 'approve']).meta({ description: 'What a wait that times out ends in' }),
    votes: z
      .array(
        z.strictObject({
          actor: z.string().meta({ description: 'Who voted (a token id, or <issuer>#<subject> for a person signed in through the identity provider)' }),
          decision: z.enum(['approve', 'reject']),
          at: z.string().meta({ description: 'When they voted' }),
          reason: z.string().optional().meta({ description: 'The reason they gave (a rejection always has one)' }),
        }),
      )
      .meta({
        description: 'The votes cast under a policy, first to last (approval: required records none: its one approval is the item.approved audit entry)',
      }),
    approvals: z.int().min(0).meta({ description: 'How many of the votes approve' }),
    needed: z.int().min(0).meta({ description: 'How many more approvals it waits for: 0 once it no longer awaits approval' }),
  })
  .meta({ id: 'ItemApproval', description: 'The approval an item waits or waited for: its policy and the votes so far' });

export type ItemApprovalView = z.output<typeof itemApprovalViewSchema>;

/** The API's view of one item's approval, given its state. */
export function itemApprovalView(record: ItemApprovalRecord, state: string): ItemApprovalView {
  const { policy, votes } = record;
  const approvals = votes.filter((vote) => vote.decision === 'approve').length;
  return {
    required: policy.required,
    ...(policy.from === null ? {} : { from: [...policy.from] }),
    selfApproval: policy.selfApproval,
    ...(policy.timeoutMs === null ? {} : { timeout: formatDuration(policy.timeoutMs) }),
    onTimeout: policy.onTimeout,
    votes: votes.map((vote) => ({ actor: vote.actor.id, decision: vote.decision, at: vote.votedAt, ...(vote.reason === null ? {} : { reason: vote.reason }) })),
    approvals,
    needed: state === 'awaiting-approval' ? Math.max(0, policy.required - approvals) : 0,
  };
}

/** The run's items, each that needs approval with its `approval` (read in one pass over the run's approvals). */
export async function withApprovals<Item extends { readonly itemId: string; readonly state: string; readonly approvalRequired: boolean }>(
  service: Pick<EngineService, 'approvals'>,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly approval: ItemApprovalView }))[]> {
  // Most runs gate nothing: no read at all unless an item of the run waits or waited for approval.
  if (!items.some((item) => item.approvalRequired)) return [...items];
  const approvals = new Map((await service.approvals(runId)).map((record) => [record.itemId, record]));
  return items.map((item) => {
    const record = approvals.get(item.itemId);
    return record === undefined ? item : { ...item, approval: itemApprovalView(record, item.state) };
  });
}
