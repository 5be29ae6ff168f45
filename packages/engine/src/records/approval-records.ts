import type { AuditActor } from '@cairn/core';
import type { ApprovalPolicy } from '@cairn/protocol';

/** One person's vote on an item under an approval policy (ADR 0041). */
export interface ApprovalVoteRecord {
  readonly itemId: string;
  /** Who voted, as audited. */
  readonly actor: AuditActor;
  /**
   * The person or service the vote counts for (ADR 0046): the principal of the voter's token, or
   * the actor's id when the host named none (and for votes from before principals were recorded).
   */
  readonly principal: string;
  readonly decision: 'approve' | 'reject';
  readonly votedAt: string;
  /** The reason they gave, if any (a rejection always has one). */
  readonly reason: string | null;
}

/** An item that waits or waited for approval: its policy and the votes cast on it, first to last. */
export interface ItemApprovalRecord {
  readonly itemId: string;
  readonly policy: ApprovalPolicy;
  readonly votes: readonly ApprovalVoteRecord[];
}
