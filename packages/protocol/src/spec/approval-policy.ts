import type { ItemApproval } from '@cairn/core';
import { parseDuration } from '../json/duration.ts';

/**
 * An item's approval as the engine applies it (ADR 0041): `approval: required` is one approver,
 * anyone allowed to approve, the submitter included, until the server's approval timeout, which
 * rejects; a policy says each of these itself.
 */
export interface ApprovalPolicy {
  /** Distinct approvers needed. */
  readonly required: number;
  /** The roles or groups one of which an approver needs; null when anyone allowed to approve counts. */
  readonly from: readonly string[] | null;
  /** Whether the run's submitter may vote. */
  readonly selfApproval: boolean;
  /** How long the item waits, in ms; null for the server's approvalTimeoutMs. */
  readonly timeoutMs: number | null;
  /** What a wait that times out ends in. */
  readonly onTimeout: 'reject' | 'approve';
  /** Whether it is `approval: required` (no votes: the one approval releases the item, audited as before policies). */
  readonly single: boolean;
}

/** The policy an item's `approval` asks for; null when it needs none. */
export function approvalPolicyOf(approval: ItemApproval | undefined): ApprovalPolicy | null {
  if (approval === undefined || approval === 'none') return null;
  if (approval === 'required') return { required: 1, from: null, selfApproval: true, timeoutMs: null, onTimeout: 'reject', single: true };
  return {
    required: approval.required,
    from: approval.from ?? null,
    selfApproval: approval.selfApproval ?? false,
    timeoutMs: approval.timeout === undefined ? null : parseDuration(approval.timeout, 'approval.timeout'),
    onTimeout: approval.onTimeout ?? 'reject',
    single: false,
  };
}

/** Whether an item's `approval` makes it wait for approval. */
export function needsApproval(approval: ItemApproval | undefined): boolean {
  return approval !== undefined && approval !== 'none';
}
