import type { ItemSummary } from './run-summary.ts';

/**
 * The approval an item waits or waited for (`Item.approval`, ADR 0041): its policy, the votes so far
 * (who, approve or reject, when, why) and how many approvals it still needs (0 once it no longer waits).
 */
export interface ItemApproval {
  readonly required: number;
  readonly from?: readonly string[];
  readonly selfApproval: boolean;
  readonly timeout?: string;
  readonly onTimeout: 'reject' | 'approve';
  readonly votes: readonly { readonly actor: string; readonly decision: 'approve' | 'reject'; readonly at: string; readonly reason?: string }[];
  readonly approvals: number;
  readonly needed: number;
}

/** The item's approval, if it needs one (read beside the generated Item, which declares it once the OpenAPI document does). */
export function approvalOf(item: ItemSummary | null | undefined): ItemApproval | null {
  return (item as (ItemSummary & { readonly approval?: ItemApproval }) | null | undefined)?.approval ?? null;
}

/** Whether it is a policy (N approvers, `from`, no self-approval) rather than `approval: required`, whose one approval needs no tally. */
export function isApprovalPolicy(approval: ItemApproval): boolean {
  return approval.required > 1 || approval.from !== undefined || !approval.selfApproval || approval.votes.length > 0;
}
