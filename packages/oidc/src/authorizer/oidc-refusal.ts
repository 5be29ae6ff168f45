import { errors } from 'jose';

/** Why a JWT was refused, in a word (the `details.reason` of the CAIRN_UNAUTHENTICATED error) and in words. */
export interface OidcRefusal {
  readonly reason: 'malformed' | 'issuer' | 'audience' | 'expired' | 'not-yet-valid' | 'unknown-key' | 'signature' | 'algorithm' | 'claims';
  readonly message: string;
}

/**
 * The refusal a verification error stands for, or `undefined` when the error is the issuer's
 * failure (its keys could not be fetched), which is no verdict on the token.
 */
export function refusalOf(error: unknown, settings: { issuer: string; audience: string | readonly string[] }, settingsPath: string): OidcRefusal | undefined {
  if (error instanceof errors.JWTExpired) return { reason: 'expired', message: `it expired (exp ${String(error.payload.exp)}); sign in again for a fresh one` };
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud')
      return {
        reason: 'audience',
        message: `its audience ${JSON.stringify(error.payload.aud ?? null)} is not ${JSON.stringify(settings.audience)} (a token meant for another service)`,
      };
    if (error.claim === 'iss') return { reason: 'issuer', message: `it was not issued by ${settings.issuer}` };
    if (error.claim === 'nbf') return { reason: 'not-yet-valid', message: 'it is not valid yet (nbf in the future: check the clocks)' };
    return { reason: 'claims', message: `its ${error.claim} claim ${error.reason === 'missing' ? 'is missing' : 'is invalid'}` };
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return { reason: 'unknown-key', message: `it is signed by a key ${settings.issuer} does not publish (removed in a rotation, or never its own)` };
  if (error instanceof errors.JWSSignatureVerificationFailed) return { reason: 'signature', message: 'its signature does not verify' };
  if (error instanceof errors.JOSEAlgNotAllowed) return { reason: 'algorithm', message: `it is signed with an algorithm not in ${settingsPath}.algorithms` };
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return { reason: 'malformed', message: 'it is not a well-formed signed JWT' };
  return undefined;
}
