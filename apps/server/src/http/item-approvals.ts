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
          principal: z.string().meta({
            description:
              "Whom the vote counts for: the voter's token's principal (the actor itself for a person, or a token made before principals were recorded); one vote per principal",
          }),
          decision: z.enum(['approve', 'reject']),
          at: z.string().meta({ description: 'When they voted' }),
          reason: z.string().optional().meta({ description: 'The reason they gave (a rejection always has one)' }),
        }),
      )
      .meta({
        description: 'The votes cast under a policy, first to last (approval: required records none: its one approval is the item.approved audit entry)',
      }),
    lapsed: z
      .array(
        z.strictObject({
          principal: z.string(),
          votedAt: z.string().meta({ description: 'When they had approved' }),
          message: z.string().meta({ description: 'Why the approval no longer counts: "approval by ana no longer counts: access revoked at <time>"' }),
        }),
      )
      .optional()
      .meta({
        description:
          "Approvals dropped before the item started because their principal's access was revoked or expired after they voted (found when the next vote was counted, or when the server revoked their last token granting it, which also sends a ready item back to waiting); absent when none. The item waits for others, or for them to vote again with access.",
      }),
    approvals: z.int().min(0).meta({ description: 'How many of the votes approve' }),
    needed: z.int().min(0).meta({ description: 'How many more approvals it waits for: 0 once it no longer awaits approval' }),
  })
  .meta({ id: 'ItemApproval', description: 'The approval an item waits or waited for: its policy and the votes so far' });

export type ItemApprovalView = z.output<typeof itemApprovalViewSchema>;

/** An approval the engine dropped because its principal's access lapsed, as its `item.approval-voted` entry says. */
export interface LapsedApprovalView {
  readonly principal: string;
  readonly votedAt: string;
  readonly message: string;
}

/** The API's view of one item's approval, given its state and the approvals that lapsed on it. */
export function itemApprovalView(record: ItemApprovalRecord, state: string, lapsedApprovals: readonly LapsedApprovalView[] = []): ItemApprovalView {
  const { policy, votes } = record;
  const approvals = votes.filter((vote) => vote.decision === 'approve').length;
  const lapsed = lapsedApprovals.filter((lapse) => !votes.some((vote) => vote.principal === lapse.principal)).map((lapse) => ({ ...lapse }));
  return {
    required: policy.required,
    ...(policy.from === null ? {} : { from: [...policy.from] }),
    selfApproval: policy.selfApproval,
    ...(policy.timeoutMs === null ? {} : { timeout: formatDuration(policy.timeoutMs) }),
    onTimeout: policy.onTimeout,
    votes: votes.map((vote) => ({
      actor: vote.actor.id,
      principal: vote.principal,
      decision: vote.decision,
      at: vote.votedAt,
      ...(vote.reason === null ? {} : { reason: vote.reason }),
    })),
    // A principal who voted again since their approval lapsed counts again: that lapse is history only.
    ...(lapsed.length === 0 ? {} : { lapsed }),
    approvals,
    needed: state === 'awaiting-approval' ? Math.max(0, policy.required - approvals) : 0,
  };
}

/**
 * The run's items, each that needs approval with its `approval` (read in one pass over the run's
 * approvals, and, while one waits, over the run's vote entries for approvals that lapsed).
 */
export async function withApprovals<Item extends { readonly itemId: string; readonly state: string; readonly approvalRequired: boolean }>(
  service: Pick<EngineService, 'approvals' | 'auditEntries'>,
  runId: string,
  items: readonly Item[],
): Promise<(Item | (Item & { readonly approval: ItemApprovalView }))[]> {
  // Most runs gate nothing: no read at all unless an item of the run waits or waited for approval.
  if (!items.some((item) => item.approvalRequired)) return [...items];
  const approvals = new Map((await service.approvals(runId)).map((record) => [record.itemId, record]));
  const lapsed = items.some((item) => item.state === 'awaiting-approval') ? await lapsedApprovalsOf(service, runId) : new Map<string, LapsedApprovalView[]>();
  return items.map((item) => {
    const record = approvals.get(item.itemId);
    return record === undefined ? item : { ...item, approval: itemApprovalView(record, item.state, lapsed.get(item.itemId)) };
  });
}

/** The `lapsed` list of an `item.approval-voted` or `item.approval-requested` entry. */
const lapsedEntrySchema = z.array(z.object({ principal: z.string(), votedAt: z.string(), message: z.string() }));

/**
 * The approvals the engine dropped on the run's items (ADR 0046), by item, as their entries record
 * them: a vote's (`item.approval-voted`, dropped when the next vote was counted) and a wait's
 * (`item.approval-requested`, dropped when the approver's token was revoked).
 */
async function lapsedApprovalsOf(service: Pick<EngineService, 'auditEntries'>, runId: string): Promise<Map<string, LapsedApprovalView[]>> {
  const byItem = new Map<string, LapsedApprovalView[]>();
  const entries = async function* () {
    yield* service.auditEntries({ runId, action: 'item.approval-voted' });
    yield* service.auditEntries({ runId, action: 'item.approval-requested' });
  };
  for await (const entry of entries()) {
    // Read as the log holds it: an entry without a list of lapsed approvals adds none.
    const lapsed = lapsedEntrySchema.safeParse(entry.data['lapsed']);
    if (!lapsed.success) continue;
    const itemId = entry.entity.id.slice(runId.length + 1);
    byItem.set(itemId, [...(byItem.get(itemId) ?? []), ...lapsed.data]);
  }
  return byItem;
}
