import type { DsseEnvelope, KeyDelegation, SignerV1 } from '@cairn/core';
import { CairnError, isCairnError, keyDelegationSchema } from '@cairn/protocol';
import { openEnvelope } from '../dsse/dsse-envelope.ts';
import { trustedKeyFrom, type TrustedKey } from '../dsse/verify-signature.ts';
import { openCanonicalPayload, signCanonicalPayload } from './canonical-payload.ts';

/** DSSE payload type of a delegation statement. */
export const keyDelegationPayloadType = 'application/vnd.cairn.key-delegation+json';

/** Signs a delegation statement (its canonical JSON) as a DSSE envelope; `signer` must be the key named `delegatedBy`. */
export function signKeyDelegation(delegation: KeyDelegation, signer: SignerV1): Promise<DsseEnvelope> {
  return signCanonicalPayload(keyDelegationPayloadType, delegation, keyDelegationSchema, 'key delegation', signer);
}

/** A verified delegation statement, and the delegate's key ready to verify what it signed. */
export interface OpenedKeyDelegation {
  readonly delegation: KeyDelegation;
  readonly delegateKey: TrustedKey;
}

/**
 * Verifies a delegation statement: signed by a key of `trustedKeys` (the statement's own
 * `delegatedBy` must be that key), of the `dispatch-manifest` purpose, for the key
 * `expectedDelegateKeyId` (when given), whose record is what its id says. Only then is the
 * delegate trusted, and only for what the caller verifies with the returned key. Throws
 * CAIRN_SIGNATURE_INVALID for every failure (the key it would vouch for is not vouched for),
 * saying which check failed; the cause keeps the underlying error.
 */
export function openKeyDelegation(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[], expectedDelegateKeyId?: string): OpenedKeyDelegation {
  const refuse = (reason: string, path: string, cause?: unknown): never => {
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `The key delegation statement is refused: ${reason}`, { path, ...(cause === undefined ? {} : { cause }) });
  };
  const namesTrustedKey = envelope.signatures.some((signature) => trustedKeys.some((key) => key.record.keyId === signature.keyid));
  let delegation: KeyDelegation;
  try {
    delegation = openCanonicalPayload(envelope, keyDelegationPayloadType, trustedKeys, keyDelegationSchema, 'key delegation');
  } catch (error) {
    const message = isCairnError(error) || error instanceof Error ? error.message : String(error);
    const path = isCairnError(error) && typeof error.path === 'string' ? error.path : '$';
    return refuse(`${message}${namesTrustedKey ? '' : ' A delegate is trusted only through a statement signed by a trusted key.'}`, path, error);
  }
  // The statement names its signer: that very key, trusted, must have signed it.
  try {
    openEnvelope(
      envelope,
      keyDelegationPayloadType,
      trustedKeys.filter((key) => key.record.keyId === delegation.delegatedBy),
    );
  } catch (error) {
    return refuse(`it says it is by ${delegation.delegatedBy}, but no signature by that trusted key verifies.`, '$.payload.delegatedBy', error);
  }
  if (expectedDelegateKeyId !== undefined && delegation.delegate.keyId !== expectedDelegateKeyId) {
    return refuse(`it delegates to ${delegation.delegate.keyId}, not to ${expectedDelegateKeyId}, the key that signed.`, '$.payload.delegate.keyId');
  }
  let delegateKey: TrustedKey;
  try {
    delegateKey = trustedKeyFrom(delegation.delegate, '$.payload.delegate');
  } catch (error) {
    return refuse((error as Error).message, '$.payload.delegate', error);
  }
  return { delegation, delegateKey };
}
