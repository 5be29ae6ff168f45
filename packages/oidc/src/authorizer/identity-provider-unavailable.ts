import { CairnError } from '@cairn/protocol';
import { errors } from 'jose';

/** Where a document (or an endpoint) of the identity provider was asked for, and which option put it there. */
export interface IdentityProviderDocument {
  /** `discovery document`, `key set`, `token endpoint`. */
  readonly name: string;
  readonly address: string;
  /** What went wrong there, in a few words; `could not be read` by default (`did not answer` suits an endpoint). */
  readonly failure?: string;
  /** The option that names the address (`oidc.issuer`, `server.oidc.jwksUri`). */
  readonly option: string;
  /** What to check, in words, when the option alone does not say it. */
  readonly check?: string;
  /** What cannot be done meanwhile; by default that its JWTs cannot be checked. */
  readonly consequence?: string;
  /** Where the provider must answer from: `this server` by default (`this machine` for a command line). */
  readonly from?: string;
}

/**
 * CAIRN_IDENTITY_PROVIDER_UNAVAILABLE for a document of `issuer` (its discovery document, its
 * keys, its token endpoint's answer) that could not be read: which document, where, why, and which
 * option to check. Why is the failure's own words (`fetch failed: connect ECONNREFUSED …`) unless
 * `reason` says it better (a provider's error answer, which is no Error).
 */
export function identityProviderUnavailable(
  issuer: string,
  document: IdentityProviderDocument,
  error: unknown,
  reason: string = fetchFailureText(error),
): CairnError {
  return new CairnError(
    'CAIRN_IDENTITY_PROVIDER_UNAVAILABLE',
    `The identity provider ${issuer} could not be reached: its ${document.name} ${document.address} ${document.failure ?? 'could not be read'} (${reason}). ${document.consequence ?? 'Its JWTs cannot be checked'} until it answers; check ${document.check ?? document.option} and that the provider answers from ${document.from ?? 'this server'}.`,
    { path: document.option, cause: error },
  );
}

/**
 * Whether a key-set error is the provider's failure to hand its keys over rather than a verdict on a
 * token: the request failed or timed out (`fetch`'s TypeError, JWKSTimeout), the answer was not a
 * 200 or not JSON (a plain JOSEError), or not a key set (JWKSInvalid).
 */
export function isKeySetUnreadable(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    (error instanceof errors.JOSEError && error.constructor === errors.JOSEError)
  );
}

/**
 * A fetch failure in words: `fetch failed` alone says nothing, its cause (`connect ECONNREFUSED
 * 127.0.0.1:9`) does, as does the status of a response that caused it.
 */
function fetchFailureText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && cause.message !== '') return `${error.message}: ${cause.message}`;
  if (cause instanceof Response) return `${error.message}: HTTP ${cause.status}`;
  return error.message;
}
