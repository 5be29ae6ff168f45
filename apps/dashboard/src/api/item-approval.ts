import type { components } from './openapi.d.ts';
import type { ItemSummary } from './run-summary.ts';

/**
 * The approval an item waits or waited for (`Item.approval`, ADR 0041): its policy, the votes so far
 * (who, approve or reject, when, why) and how many approvals it still needs (0 once it no longer waits).
 */
export type ItemApproval = components['schemas']['ItemApproval'];

/** The item's approval, if it needs one. */
export function approvalOf(item: ItemSummary | null | undefined): ItemApproval | null {
  return item?.approval ?? null;
}

/** Whether it is a policy (N approvers, `from`, no self-approval) rather than `approval: required`, whose one approval needs no tally. */
export function isApprovalPolicy(approval: ItemApproval): boolean {
  return approval.required > 1 || approval.from !== undefined || !approval.selfApproval || approval.votes.length > 0;
}
