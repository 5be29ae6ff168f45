// A real key pair behind SignerV1, for tests (ed25519 or ECDSA P-256, as the seams allow).
import { generateKeyPairSync, sign } from 'node:crypto';
import type { PublicKeyRecord, SignatureAlgorithm, SignerV1 } from '@cairn/core';
import { encodeBase64 } from './base64.ts';
import { keyIdOf, trustedKeyFrom, type TrustedKey } from './verify-signature.ts';

export interface TestSigner {
  readonly signer: SignerV1;
  readonly record: PublicKeyRecord;
  readonly trusted: TrustedKey;
}

export function createTestSigner(algorithm: SignatureAlgorithm = 'ed25519'): TestSigner {
  const { privateKey, publicKey } = algorithm === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const record: PublicKeyRecord = { keyId: keyIdOf(der), algorithm, publicKey: encodeBase64(der) };
  const signer: SignerV1 = {
    specificationVersion: 'v1',
    provider: 'test',
    algorithm,
    keyId: async () => record.keyId,
    publicKey: async () => der,
    sign: async (message) =>
      new Uint8Array(algorithm === 'ed25519' ? sign(null, message, privateKey) : sign('sha256', message, { key: privateKey, dsaEncoding: 'der' })),
  };
  return { signer, record, trusted: trustedKeyFrom(record) };
}
