import type { AuthenticatedPrincipal, AuthorizationDecision, AuthorizationResource, AuthorizerV1 } from '@cairn/core';
import { looksLikeJwt, type OidcAuthorizer } from '@cairn/oidc';
import type { TokenAuthorizer } from './token-authorizer.ts';

/**
 * The server's tokens and an OpenID provider's JWTs side by side: a bearer credential shaped like a
 * JWT is the identity provider's to judge, any other is looked up in the token table. Each
 * principal is authorized by the authorizer that authenticated it (people by their roles' scopes,
 * tokens by theirs), so neither can speak for the other's credentials.
 */
export class BearerAuthorizer implements AuthorizerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'cairn-tokens+oidc';
  readonly #tokens: TokenAuthorizer;
  readonly #oidc: OidcAuthorizer;

  constructor(tokens: TokenAuthorizer, oidc: OidcAuthorizer) {
    this.#tokens = tokens;
    this.#oidc = oidc;
  }

  authenticate(credential: string): Promise<AuthenticatedPrincipal | null> {
    return looksLikeJwt(credential) ? this.#oidc.authenticate(credential) : this.#tokens.authenticate(credential);
  }

  authorize(principal: AuthenticatedPrincipal, action: string, resource: AuthorizationResource): Promise<AuthorizationDecision> {
    return principal.actor.kind === 'user' ? this.#oidc.authorize(principal, action, resource) : this.#tokens.authorize(principal, action, resource);
  }
}
