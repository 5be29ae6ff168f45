import { identityProviderUnavailable, type IdentityProviderDocument } from '@cairn/oidc';
import type { CairnError } from '@cairn/protocol';
import * as client from 'openid-client';

/**
 * openid-client's codes for an answer that is no OAuth endpoint's: a status other than the
 * endpoint's own and no OAuth error in a 4xx (a proxy's 502 page, any 5xx: openid-client reads an
 * error body only from a 4xx), or not JSON. The provider behind it was not reached, or failed.
 */
const notAnOAuthAnswer = new Set(['OAUTH_RESPONSE_IS_NOT_CONFORM', 'OAUTH_RESPONSE_IS_NOT_JSON']);

/**
 * CAIRN_IDENTITY_PROVIDER_UNAVAILABLE when `error`, thrown by openid-client at one of the provider's
 * endpoints (its token endpoint, its device authorization endpoint), means the provider could not
 * be reached or failed: no verdict on the person, the code or the token; `undefined` when the
 * provider answered (a refusal, a check that failed), which the caller words. The request never
 * made it when fetch failed (its TypeError, not one openid-client throws with a `code` for a wrong
 * argument) or timed out.
 */
export function identityProviderUnreachable(error: unknown, issuer: string, endpoint: IdentityProviderDocument): CairnError | undefined {
  if (
    (error instanceof TypeError && (error as { code?: unknown }).code === undefined) ||
    (error instanceof client.ClientError && error.code === 'OAUTH_TIMEOUT')
  )
    return identityProviderUnavailable(issuer, { failure: 'did not answer', ...endpoint }, error);
  if (error instanceof client.ClientError && error.code !== undefined && notAnOAuthAnswer.has(error.code))
    return identityProviderUnavailable(issuer, { failure: 'answered with an error', ...endpoint }, error);
  return undefined;
}
