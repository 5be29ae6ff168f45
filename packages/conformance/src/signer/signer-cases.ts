import { createHash, createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import type { SignerV1 } from '@cairn/core';
import { expectBytes, utf8 } from '../harness/bytes.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { fail } from '../harness/fail.ts';
import type { SignerOracle } from './signer-oracle.ts';

/** One signer case. */
export type SignerCase = ConformanceCase<SignerV1, SignerOracle>;

/**
 * Verifies like an offline verifier: only the published SPKI DER bytes, the declared algorithm and
 * node:crypto. Ed25519 signs the message itself; ECDSA P-256 hashes it with SHA-256 and signs in DER.
 */
function verifies(algorithm: string, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const spki = { key: Buffer.from(publicKey), format: 'der', type: 'spki' } as const;
  switch (algorithm) {
    case 'ed25519':
      return verify(null, message, spki, signature);
    case 'ecdsa-p256-sha256':
      return verify('sha256', message, { ...spki, dsaEncoding: 'der' }, signature);
    default:
      return fail(`unknown signature algorithm "${algorithm}"`);
  }
}

function publicKeyObject(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (error) {
    return fail(`publicKey() is not a DER SubjectPublicKeyInfo: ${(error as Error).message}`);
  }
}

/** The key id the contract documents: `sha256:` and the lowercase hex SHA-256 of the SPKI DER. */
function fingerprint(spki: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

/** The SignerV1 cases, in registration order; exported for meta-tests. */
export const signerCases: readonly SignerCase[] = [
  {
    id: 'algorithm-matches-key',
    title: 'declares ed25519 or ecdsa-p256-sha256; the published key is of that type (and ECDSA signs in DER)',
    async run({ instance }) {
      expect(['ed25519', 'ecdsa-p256-sha256']).toContain(instance.algorithm);
      const key = publicKeyObject(await instance.publicKey());
      if (instance.algorithm === 'ed25519') {
        expect(key.asymmetricKeyType).toBe('ed25519');
      } else {
        expect(key.asymmetricKeyType).toBe('ec');
        expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
        // DER (a SEQUENCE of two INTEGERs), not IEEE P1363 r||s: what KMS returns and verifiers expect.
        const signature = await instance.sign(utf8('der please'));
        expect(signature[0], 'an ECDSA signature starts with a DER SEQUENCE tag').toBe(0x30);
        expect(signature[1], 'the DER length covers the rest').toBe(signature.byteLength - 2);
        expect(signature[2], 'the first element is an INTEGER').toBe(0x02);
      }
    },
  },
  {
    id: 'verifies-offline',
    title: 'a signature verifies offline with node:crypto and only the published public key',
    async run({ instance }) {
      const publicKey = await instance.publicKey();
      for (const message of [utf8('checkpoint 1'), new Uint8Array(0), randomBytes(65_536)]) {
        const signature = await instance.sign(message);
        expect(signature, 'sign() resolves to bytes').toBeInstanceOf(Uint8Array);
        expect(verifies(instance.algorithm, publicKey, message, signature), `verify a ${message.byteLength}-byte message`).toBe(true);
      }
    },
  },
  {
    id: 'key-id-is-fingerprint',
    title: 'keyId is sha256:<64 lowercase hex> of the published public key’s DER bytes, exactly',
    async run({ instance }) {
      const keyId = await instance.keyId();
      expect(keyId, 'keyId has the form sha256:<64 lowercase hex digits>').toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(keyId, 'keyId is the SHA-256 of publicKey()').toBe(fingerprint(await instance.publicKey()));
    },
  },
  {
    id: 'flipped-message-bit-fails',
    title: 'a flipped bit in the message fails verification',
    async run({ instance }) {
      const publicKey = await instance.publicKey();
      const message = utf8('the checkpoint to protect');
      const signature = await instance.sign(message);
      for (const bit of [0, 7, 77, message.byteLength * 8 - 1]) {
        expect(verifies(instance.algorithm, publicKey, flipBit(message, bit), signature), `message bit ${bit} flipped`).toBe(false);
      }
    },
  },
  {
    id: 'flipped-signature-bit-fails',
    title: 'a flipped bit in the signature fails verification',
    async run({ instance }) {
      const publicKey = await instance.publicKey();
      const message = utf8('the checkpoint to protect');
      const signature = await instance.sign(message);
      for (const bit of [0, 9, signature.byteLength * 4, signature.byteLength * 8 - 1]) {
        let valid: boolean;
        try {
          valid = verifies(instance.algorithm, publicKey, message, flipBit(signature, bit));
        } catch {
          valid = false; // a flipped DER header is not even parseable: just as good
        }
        expect(valid, `signature bit ${bit} flipped`).toBe(false);
      }
    },
  },
  {
    id: 'stable-key',
    title: 'keyId and public key are stable across calls and signatures, also under concurrent signing',
    async run({ instance }) {
      const keyId = await instance.keyId();
      const publicKey = await instance.publicKey();
      const messages = Array.from({ length: 10 }, (_, index) => utf8(`message ${index}`));
      const signatures = await Promise.all(messages.map((message) => instance.sign(message)));
      signatures.forEach((signature, index) => {
        expect(verifies(instance.algorithm, publicKey, messages[index]!, signature), `concurrent signature ${index}`).toBe(true);
      });
      expect(await instance.keyId()).toBe(keyId);
      expectBytes(await instance.publicKey(), publicKey, 'publicKey() after signing');
    },
  },
  {
    id: 'public-key-matches-backend',
    title: 'the published public key is the one the backend holds (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle }) {
      expectBytes(await instance.publicKey(), await oracle!.publicKey(), 'publicKey() vs the oracle');
    },
  },
];
