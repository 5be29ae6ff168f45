import type { AuditActor } from '@cairn/core';
import type { ApprovalVoteRecord, EngineService, LapsedApproval, Voter } from '@cairn/engine';
import type { ApprovalPolicy } from '@cairn/protocol';
import { principalOf, principalOfActor } from './token-principal.ts';
import { roleScopePattern } from './token-scopes.ts';
import { isExpired, type TokenRecord, type TokenStore } from './token-store.ts';

/**
 * Whether `token` grants approving under `policy`: a bearer token (not a sign-in code or a
 * dashboard session, which a person's identity provider stands behind) with `runs:approve` or
 * `admin`, and, when the policy names roles in `from`, a `role:` scope of one of them.
 */
function grantsApproval(token: TokenRecord, policy: ApprovalPolicy): boolean {
  if (!approves(token)) return false;
  if (policy.from === null) return true;
  const roles = rolesOf(token);
  return policy.from.some((name) => roles.includes(name));
}

/** Whether `token` is a bearer token that may approve at all (`runs:approve` or `admin`). */
function approves(token: TokenRecord): boolean {
  if (token.oneTime === true || token.session === true) return false;
  return token.scopes.includes('runs:approve') || token.scopes.includes('admin');
}

/** The roles a token holds (its `role:` scopes), for policies' `from`. */
function rolesOf(token: TokenRecord): string[] {
  return token.scopes.flatMap((scope) => roleScopePattern.exec(scope)?.[1] ?? []);
}

/** What the engine is told when a revocation takes a principal's access to approve (see `lapseOnRevoke`). */
export interface ApprovalLapse {
  readonly principal: string;
  readonly reason: string;
  /** The roles they still approve with (another live token); absent when they may approve no more. */
  readonly rolesKept?: readonly string[];
}

/**
 * Whether revoking `revoked` takes some of its principal's access to approve (ADR 0046): it was a
 * bearer token that approved, and the principal's live tokens that still approve — `tokens` is the
 * store after the revocation — hold none of it (then every approval of theirs lapses) or not all of
 * its roles (then those under a policy only the lost roles satisfied lapse). Undefined when they
 * keep all they had: their approvals still count.
 */
export function lapseOnRevoke(revoked: TokenRecord, tokens: readonly TokenRecord[], now: Date): ApprovalLapse | undefined {
  if (!approves(revoked)) return undefined;
  const principal = principalOf(revoked);
  const reason = `access revoked at ${revoked.revokedAt ?? now.toISOString()}`;
  const live = tokens.filter(
    (token) => token.id !== revoked.id && principalOf(token) === principal && approves(token) && token.revokedAt === undefined && !isExpired(token, now),
  );
  if (live.length === 0) return { principal, reason };
  const rolesKept = [...new Set(live.flatMap(rolesOf))].sort();
  return rolesOf(revoked).every((role) => rolesKept.includes(role)) ? undefined : { principal, reason, rolesKept };
}

/**
 * The approvals among `votes` that no longer count at `now` (ADR 0046): each cast with a token
 * (a `token` actor) whose principal holds no live bearer token granting the approval any more —
 * every one that did was revoked or has expired. A person who voted through the identity provider
 * is the provider's to judge (their access lives there, not in the token store), so their vote
 * stands; so does one whose principal never had a bearer token granting it (a dashboard session).
 */
export function lapsedApprovals(votes: readonly ApprovalVoteRecord[], policy: ApprovalPolicy, tokens: readonly TokenRecord[], now: Date): LapsedApproval[] {
  return votes.flatMap((vote) => {
    if (vote.decision !== 'approve' || vote.actor.kind !== 'token') return [];
    const granting = tokens.filter((token) => principalOf(token) === vote.principal && grantsApproval(token, policy));
    // No bearer token of theirs ever granted it: they voted through a dashboard session (made from
    // a sign-in link), whose end — signing out, expiring — takes no access away from anyone.
    if (granting.length === 0) return [];
    if (granting.some((token) => token.revokedAt === undefined && !isExpired(token, now))) return [];
    // The latest end of their access is when it ended: the last of their tokens to go.
    const ends = granting
      .map((token) =>
        token.revokedAt !== undefined && (token.expiresAt === undefined || token.revokedAt <= token.expiresAt)
          ? { at: token.revokedAt, how: 'revoked' }
          : { at: token.expiresAt!, how: 'expired' },
      )
      .sort((left, right) => left.at.localeCompare(right.at));
    const last = ends.at(-1)!;
    return [{ principal: vote.principal, reason: `access ${last.how} at ${last.at}` }];
  });
}

/**
 * What the engine is told of someone voting on an item (ADR 0046): their roles and groups (as the
 * request's authorizer gave them), the principal their token belongs to, the principal of the run's
 * submitter, and the approvals already cast on the item whose principal's access has lapsed since.
 * Read from the token store just before the vote; an item without a policy needs none of it.
 */
export async function voterWithStanding(
  service: Pick<EngineService, 'run' | 'approvals'>,
  tokens: TokenStore,
  runId: string,
  itemId: string,
  actor: AuditActor,
  voter: Voter,
  now = new Date(),
): Promise<Voter> {
  const [run, approvals] = await Promise.all([service.run(runId), service.approvals(runId)]);
  const approval = approvals.find((record) => record.itemId === itemId);
  if (run === undefined || approval === undefined || approval.policy.single) return voter;
  const listed = await tokens.list();
  const lapsed = lapsedApprovals(approval.votes, approval.policy, listed, now);
  return {
    ...voter,
    principal: principalOfActor(actor, listed),
    submitterPrincipal: principalOfActor(submitterOf(run.submittedBy), listed),
    ...(lapsed.length === 0 ? {} : { lapsed }),
  };
}

// A run records its submitter's id: a token's is `token:<id>`, a person's their own.
function submitterOf(submittedBy: string): Pick<AuditActor, 'kind' | 'id'> {
  return { kind: submittedBy.startsWith('token:') ? 'token' : 'user', id: submittedBy };
}
