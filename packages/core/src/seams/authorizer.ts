import type { Actor } from '../model/actor.ts';

/** An authenticated caller and what it may do. */
export interface AuthenticatedPrincipal {
  readonly actor: Actor;
  /** Scopes granted (`runs:write`, `audit:read`, `admin`). */
  readonly scopes: readonly string[];
  /**
   * The roles the caller holds, as the authorizer knows them (an identity provider's mapped roles,
   * a token's `role:` scopes): what an approval policy's `from` names. None when left out.
   */
  readonly roles?: readonly string[];
  /** The identity provider's groups the caller is in, when the authorizer knows them: `from` may name them too. */
  readonly groups?: readonly string[];
}

/** What is being acted on. */
export interface AuthorizationResource {
  readonly kind: string;
  readonly id: string;
  /** The actor that owns the resource (a run's submitter), when it has one. */
  readonly owner?: Actor;
}

export interface AuthorizationDecision {
  readonly allowed: boolean;
  /** Why, in words fit for the error message and the `access.denied` audit entry. */
  readonly reason: string;
}

/**
 * Turns a credential into an actor, and decides whether that actor may perform an action on a
 * resource.
 *
 * Guarantees:
 * - `authenticate` returns `null` for an unknown, expired, revoked or malformed credential; it
 *   throws only when its backend fails. It compares secrets in constant time and never logs them.
 * - `authorize` is deterministic for the same inputs, and denies by default: an action it does not
 *   know is denied.
 *
 * How to implement: store credentials hashed, answer with a reason the server can show, and run
 * `describeAuthorizer` from `@cairn/conformance`.
 */
export interface AuthorizerV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  authenticate(credential: string): Promise<AuthenticatedPrincipal | null>;
  authorize(principal: AuthenticatedPrincipal, action: string, resource: AuthorizationResource): Promise<AuthorizationDecision>;
}
