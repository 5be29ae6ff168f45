import type { AuditActor } from '@cairn/core';
import { CairnError, formatDuration, type ApprovalPolicy } from '@cairn/protocol';
import type { ApprovalVoteRecord } from '../records/approval-records.ts';

/**
 * What the host knows of a person who votes: the roles and groups an approval policy's `from`
 * names, and who they are (their principal), which a policy counts once however many tokens they
 * hold (ADR 0046).
 */
export interface Voter {
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
  /**
   * The person or service the voter's credential belongs to (recorded with a token when it is made;
   * a person signed in through the identity provider is `<issuer>#<subject>`). A policy counts one
   * vote per principal. None: the actor's id.
   */
  readonly principal?: string;
  /**
   * The principal of the run's submitter, when the host knows it: a submitter's other token is the
   * submitter too, which a policy without self-approval refuses.
   */
  readonly submitterPrincipal?: string;
  /**
   * Principals whose approvals no longer count (their access was revoked, or expired, after they
   * voted), as the host judged them just before this vote, each with why. Their approvals are
   * dropped when this vote is counted, so the item waits for others (or for them to vote again).
   */
  readonly lapsed?: readonly LapsedApproval[];
}

/** An approval that no longer counts, and why ("access revoked at 2026-11-28T00:12:03.000Z"). */
export interface LapsedApproval {
  readonly principal: string;
  readonly reason: string;
}

/** Who `actor` votes as under `voter`: its principal, or its own id when the host named none. */
export function principalOfVoter(actor: AuditActor, voter: Voter): string {
  return voter.principal ?? actor.id;
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
  const principal = principalOfVoter(actor, voter);
  const details = { runId: item.runId, itemId: item.itemId, actor: actor.id, principal };
  const approvals = votes.filter((vote) => vote.decision === 'approve').length;
  const still = `it still needs ${policy.required - approvals} of ${policy.required} approvals${policy.from === null ? '' : ` from ${policy.from.join(', ')}`}`;
  if (!policy.selfApproval && (actor.id === item.submittedBy || principal === (voter.submitterPrincipal ?? item.submittedBy)))
    throw new CairnError(
      'CAIRN_APPROVAL_NOT_ALLOWED',
      `${actor.id === item.submittedBy ? actor.id : `${actor.id} belongs to ${principal}, who`} submitted run ${item.runId}, and the approval policy of ${where} does not let the submitter vote (selfApproval: false): ${still}, from someone else.`,
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
  // One vote per principal: a second token of someone who voted is still them.
  const earlier = votes.find((vote) => vote.principal === principal);
  if (earlier)
    throw new CairnError(
      'CAIRN_APPROVAL_DUPLICATE',
      `${earlier.actor.id === actor.id ? actor.id : `${actor.id} belongs to ${principal}, who`} already voted on ${where} (${earlier.decision}, at ${earlier.votedAt}${earlier.actor.id === actor.id ? '' : `, as ${earlier.actor.id}`}); each approver counts once, however many tokens they hold: ${still}, from someone else.`,
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
