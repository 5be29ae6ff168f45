import type { AuditActor } from '@cairn/core';
import { CairnError, formatDuration, type ApprovalPolicy } from '@cairn/protocol';
import type { ApprovalVoteRecord } from '../records/approval-records.ts';

/** What the authorizer knows of a person who votes: the roles and groups an approval policy's `from` names. */
export interface Voter {
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
}

/**
 * Checks that `actor` may vote on an item under `policy` (ADR 0041), given the votes cast so far:
 * not the run's submitter unless the policy allows self-approval, one of the roles or groups of
 * `from` when it names any, and not a second time. Returns the roles and groups of `from` the
 * voter counts as (none when `from` is left out). Refusals are CAIRN_APPROVAL_NOT_ALLOWED (403)
 * and CAIRN_APPROVAL_DUPLICATE (409), each saying who may still vote.
 */
export function checkVoter(
  item: { readonly runId: string; readonly itemId: string; readonly submittedBy: string },
  policy: ApprovalPolicy,
  votes: readonly ApprovalVoteRecord[],
  actor: AuditActor,
  voter: Voter,
): string[] {
  const where = `item ${item.itemId} of run ${item.runId}`;
  const details = { runId: item.runId, itemId: item.itemId, actor: actor.id };
  const approvals = votes.filter((vote) => vote.decision === 'approve').length;
  const still = `it still needs ${policy.required - approvals} of ${policy.required} approvals${policy.from === null ? '' : ` from ${policy.from.join(', ')}`}`;
  if (!policy.selfApproval && actor.id === item.submittedBy)
    throw new CairnError(
      'CAIRN_APPROVAL_NOT_ALLOWED',
      `${actor.id} submitted run ${item.runId}, and the approval policy of ${where} does not let the submitter vote (selfApproval: false): ${still}, from someone else.`,
      { path: 'approval.selfApproval', details: { ...details, reason: 'self-approval' } },
    );
  const memberships = [...(voter.roles ?? []), ...(voter.groups ?? [])];
  const counted = policy.from === null ? [] : policy.from.filter((name) => memberships.includes(name));
  if (policy.from !== null && counted.length === 0)
    throw new CairnError(
      'CAIRN_APPROVAL_NOT_ALLOWED',
      `The approval policy of ${where} counts votes only from ${policy.from.join(', ')} (approval.from), and ${actor.id} has ${
        memberships.length === 0 ? 'no role or group the server knows of' : `only ${memberships.join(', ')}`
      }: ${still}.`,
      { path: 'approval.from', details: { ...details, reason: 'not-in-from', from: [...policy.from], memberships } },
    );
  const earlier = votes.find((vote) => vote.actor.id === actor.id);
  if (earlier)
    throw new CairnError(
      'CAIRN_APPROVAL_DUPLICATE',
      `${actor.id} already voted on ${where} (${earlier.decision}, at ${earlier.votedAt}); each approver counts once: ${still}, from someone else.`,
      { details: { ...details, reason: 'duplicate', votedAt: earlier.votedAt } },
    );
  return counted;
}

/** The failure of an item whose wait for approval timed out, and the reason its `item.failed` entry gives. */
export function expiredApprovalFailure(policy: ApprovalPolicy, approvals: number, defaultTimeoutMs: number): { message: string; reason: string } {
  if (policy.single)
    return {
      message: `No one approved the item within ${defaultTimeoutMs} ms (the engine's approvalTimeoutMs); it did not run. Submit the run again and approve it in time.`,
      reason: `no approval within ${defaultTimeoutMs} ms`,
    };
  const timeout =
    policy.timeoutMs === null ? `${defaultTimeoutMs} ms (the engine's approvalTimeoutMs)` : `${formatDuration(policy.timeoutMs)} (its approval.timeout)`;
  return {
    message: `The item had ${approvals} of the ${policy.required} approvals its policy needs when its wait of ${timeout} ended (onTimeout: reject); it did not run. Submit the run again and approve it in time.`,
    reason: `${approvals} of ${policy.required} approvals within ${timeout}`,
  };
}
