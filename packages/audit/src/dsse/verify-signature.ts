import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { PublicKeyRecord, SignatureAlgorithm } from '@cairn/core';
import { CairnError, sha256Digest } from '@cairn/protocol';
import { decodeBase64Strict } from './base64.ts';

/** The key id of a DER SubjectPublicKeyInfo: `sha256:<hex>` of its bytes. */
export function keyIdOf(publicKeyDer: Uint8Array): `sha256:${string}` {
  return sha256Digest(publicKeyDer);
}

/** A public key ready to verify with, and the record it came from. */
export interface TrustedKey {
  readonly record: PublicKeyRecord;
  readonly key: KeyObject;
}

/**
 * Loads a public key record, checking that its key id is the digest of its key and that the key
 * type matches its algorithm. Throws CAIRN_SIGNATURE_INVALID naming `where` otherwise.
 */
export function trustedKeyFrom(record: PublicKeyRecord, where = 'public key'): TrustedKey {
  const der = decodeBase64Strict(record.publicKey);
  if (!der) throw new CairnError('CAIRN_SIGNATURE_INVALID', `${where}: the public key is not canonical base64.`, { path: where });
  if (keyIdOf(der) !== record.keyId) {
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `${where}: key id ${record.keyId} is not the sha256 of its public key.`, { path: where });
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  } catch (error) {
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `${where}: not a DER SubjectPublicKeyInfo.`, { path: where, cause: error });
  }
  const expected = record.algorithm === 'ed25519' ? 'ed25519' : 'ec';
  if (key.asymmetricKeyType !== expected || (expected === 'ec' && key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `${where}: the key is not an ${record.algorithm} key.`, { path: where });
  }
  return { record, key };
}

/** Whether `signature` over `message` verifies under `key` with `algorithm` (ECDSA: DER). */
export function verifySignature(algorithm: SignatureAlgorithm, key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (algorithm === 'ed25519') return verify(null, message, key, signature);
    return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    // Malformed signatures (wrong length, bad DER) are simply not valid.
    return false;
  }
}
