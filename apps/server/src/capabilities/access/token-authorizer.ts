import type { AuthenticatedPrincipal, AuthorizationDecision, AuthorizationResource, AuthorizerV1 } from '@cairn/core';
import { scopeOfAction } from './token-scopes.ts';
import type { TokenStore } from './token-store.ts';

/**
 * AuthorizerV1 over the server's bearer tokens: a token authenticates as actor `token:<id>` (a
 * session of a person signed in through the identity provider: as that person) with its scopes;
 * an action is allowed when the token has the scope it needs (or `admin`), and denied otherwise —
 * including every action no scope is known for.
 */
export class TokenAuthorizer implements AuthorizerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'cairn-tokens';
  readonly #tokens: TokenStore;

  constructor(tokens: TokenStore) {
    this.#tokens = tokens;
  }

  async authenticate(credential: string): Promise<AuthenticatedPrincipal | null> {
    const record = await this.#tokens.verify(credential);
    if (!record) return null;
    // A session of a person signed in through the identity provider acts as that person.
    if (record.person === undefined) return { actor: { kind: 'token', id: `token:${record.id}` }, scopes: record.scopes };
    return { actor: { kind: 'user', id: record.person }, scopes: record.scopes, groups: record.groups ?? [] };
  }

  async authorize(principal: AuthenticatedPrincipal, action: string, resource: AuthorizationResource): Promise<AuthorizationDecision> {
    const needed = scopeOfAction[action];
    if (needed === undefined) return { allowed: false, reason: `no token may ${action} (an action this server does not grant)` };
    if (principal.scopes.includes(needed) || principal.scopes.includes('admin')) return { allowed: true, reason: `the token has ${needed}` };
    return { allowed: false, reason: `${action} on ${resource.kind} ${resource.id} needs the ${needed} scope, which this token lacks` };
  }
}
