import { approvalOf, isApprovalPolicy } from '../api/item-approval.ts';
import type { ItemSummary } from '../api/run-summary.ts';
import { When } from '../time-format.tsx';

/**
 * Under an approval policy: how many of the approvals it needs the item has, who voted (and when,
 * and why), whose approvals no longer count (their access was revoked after they voted: ADR 0046),
 * and who it still waits for — the roles or groups the policy names, never the submitter unless the
 * policy lets them.
 */
export function ApprovalVotes({ item }: { readonly item: ItemSummary | null | undefined }) {
  const approval = approvalOf(item);
  if (approval === null || !isApprovalPolicy(approval)) return null;
  const from = approval.from === undefined ? 'anyone who may approve' : approval.from.join(' or ');
  return (
    <div class="approval-votes" role="note" aria-label="Approvals">
      <p class="approval-tally">
        {approval.approvals} of {approval.required} approvals
        {approval.needed > 0 && (
          <span class="approval-needed">
            {' '}
            · waiting for {approval.needed} more from {from}
            {approval.selfApproval ? '' : ' (not the submitter)'}
          </span>
        )}
      </p>
      {approval.votes.length > 0 && (
        <ul class="approval-list">
          {approval.votes.map((vote) => (
            <li key={vote.actor} data-actor={vote.actor} data-decision={vote.decision}>
              <code>{vote.actor}</code> {vote.decision === 'approve' ? 'approved' : 'rejected'} <When iso={vote.at} />
              {vote.reason === undefined ? '' : `: ${vote.reason}`}
            </li>
          ))}
        </ul>
      )}
      {approval.lapsed !== undefined && (
        <ul class="approval-lapsed" aria-label="Approvals that no longer count">
          {approval.lapsed.map((lapse) => (
            <li key={lapse.principal} data-principal={lapse.principal}>
              {lapse.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
