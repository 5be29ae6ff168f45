import { createPublicKey, type KeyObject } from 'node:crypto';
import type { PublicKeyRecord, SignatureAlgorithm } from '@cairn/core';
import { keyIdOf, trustedKeyFrom } from '@cairn/audit';
import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * The public key in a file given with `--trusted-key-file`: a PEM public key (SPKI), a PEM private
 * key (its public half is taken, e.g. a server's own keys/signing.pem), or a JSON public key record
 * (`{keyId, algorithm, publicKey}`, as evidence bundles carry them). Anything else is bad input
 * (CAIRN_PAYLOAD_INVALID) naming the file.
 */
export function trustedKeyFromFile(text: string, file: string): PublicKeyRecord {
  const refuse = (problem: string, cause?: unknown) =>
    new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `--trusted-key-file ${file} ${problem}. Give a PEM public key, a PEM private key, or a JSON {keyId, algorithm, publicKey} record.`,
      { path: file, ...(cause === undefined ? {} : { cause }) },
    );
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      return trustedKeyFrom(JSON.parse(trimmed) as PublicKeyRecord, file).record;
    } catch (error) {
      throw refuse(`is not a valid public key record: ${isCairnError(error) || error instanceof Error ? error.message : String(error)}`, error);
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: trimmed, format: 'pem' });
  } catch (error) {
    throw refuse('holds no PEM key', error);
  }
  const algorithm: SignatureAlgorithm | undefined =
    key.asymmetricKeyType === 'ed25519'
      ? 'ed25519'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
        ? 'ecdsa-p256-sha256'
        : undefined;
  if (!algorithm) throw refuse(`holds a ${key.asymmetricKeyType ?? 'symmetric'} key; Cairn signs with Ed25519 or ECDSA P-256 only`);
  const der = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  return { keyId: keyIdOf(der), algorithm, publicKey: Buffer.from(der).toString('base64') };
}
