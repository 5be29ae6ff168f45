import type { AuditActor } from '@cairn/core';
import { approvalVoteColumns, approvalVoteOfRow, itemApprovalsOf, type ApprovalVoteRow } from '../shared/approval-vote-rows.ts';
import type { ApprovalVoteRecord, ItemApprovalRecord } from '../../records/approval-records.ts';
import type { EngineDatabase } from '../shared/engine-database.ts';

/**
 * The votes of items under an approval policy (migration 17), one per principal and item: the
 * `voter` column holds the principal the vote counts for (ADR 0046), which was the actor's id
 * before principals were recorded, and still is when the host names none.
 */
export class ApprovalVoteTable {
  readonly #insert;
  readonly #remove;
  readonly #ofItem;
  readonly #ofRun;
  readonly #approvalItems;
  readonly #unstartedApprovals;

  constructor(database: EngineDatabase) {
    this.#insert = database.prepare('INSERT INTO approval_votes (run_id, item_id, voter, actor, decision, voted_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)');
    this.#remove = database.prepare('DELETE FROM approval_votes WHERE run_id = ? AND item_id = ? AND voter = ?');
    this.#ofItem = database.prepare<[string, string], ApprovalVoteRow>(
      `SELECT ${approvalVoteColumns} FROM approval_votes WHERE run_id = ? AND item_id = ? ORDER BY voted_at, voter`,
    );
    this.#ofRun = database.prepare<[string], ApprovalVoteRow>(`SELECT ${approvalVoteColumns} FROM approval_votes WHERE run_id = ? ORDER BY voted_at, voter`);
    this.#approvalItems = database.prepare<[string], { itemId: string; spec: string }>(
      'SELECT item_id AS itemId, spec FROM items WHERE run_id = ? AND approval_required = 1 ORDER BY position',
    );
    // No index leads with the voter: a revocation is rare, and the table holds one row per vote.
    this.#unstartedApprovals = database.prepare<[string], { runId: string; itemId: string }>(
      `SELECT v.run_id AS runId, v.item_id AS itemId FROM approval_votes v JOIN items i ON i.run_id = v.run_id AND i.item_id = v.item_id
       WHERE v.voter = ? AND v.decision = 'approve' AND i.attempts = 0 AND i.state IN ('awaiting-approval', 'ready') ORDER BY v.voted_at, v.run_id, v.item_id`,
    );
  }

  /** Records a vote of `principal`; the caller has checked that they have not voted on the item (the primary key would refuse it). */
  record(runId: string, itemId: string, principal: string, actor: AuditActor, decision: 'approve' | 'reject', votedAt: string, reason: string | null): void {
    this.#insert.run(runId, itemId, principal, JSON.stringify(actor), decision, votedAt, reason);
  }

  /** Drops the vote of `principal` on an item: one that no longer counts (the audit log keeps it and why). */
  remove(runId: string, itemId: string, principal: string): void {
    this.#remove.run(runId, itemId, principal);
  }

  /** The votes on one item, first to last. */
  ofItem(runId: string, itemId: string): ApprovalVoteRecord[] {
    return this.#ofItem.all(runId, itemId).map(approvalVoteOfRow);
  }

  /** The items `principal` approved that have not started (awaiting approval, or ready and never attempted). */
  unstartedApprovedBy(principal: string): { runId: string; itemId: string }[] {
    return this.#unstartedApprovals.all(principal);
  }

  /** Each item of the run that needs approval, with its policy and its votes. */
  ofRun(runId: string): ItemApprovalRecord[] {
    return itemApprovalsOf(this.#approvalItems.all(runId), this.#ofRun.all(runId));
  }
}
