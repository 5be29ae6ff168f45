import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Digest, SignatureAlgorithm, SignerV1 } from '@cairn/core';
import { sha256Digest } from '@cairn/protocol';

/** Settings of `createInMemorySigner`. */
export interface InMemorySignerSettings {
  /** Signature algorithm; `ed25519` by default. */
  readonly algorithm?: SignatureAlgorithm;
  /** A private key (KeyObject or PKCS#8 PEM) to sign with; a fresh one is generated when omitted. */
  readonly privateKey?: KeyObject | string;
}

/**
 * SignerV1 with a key held in memory. The signatures are real (node:crypto Ed25519 or ECDSA P-256
 * in DER), so code under test can verify them exactly as an offline verifier would.
 */
export class InMemorySigner implements SignerV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'in-memory';
  readonly algorithm: SignatureAlgorithm;
  readonly #privateKey: KeyObject;
  readonly #publicKey: Uint8Array;

  constructor(settings: InMemorySignerSettings = {}) {
    this.algorithm = settings.algorithm ?? 'ed25519';
    this.#privateKey =
      settings.privateKey === undefined
        ? generate(this.algorithm)
        : typeof settings.privateKey === 'string'
          ? createPrivateKey(settings.privateKey)
          : settings.privateKey;
    this.#publicKey = new Uint8Array(createPublicKey(this.#privateKey).export({ format: 'der', type: 'spki' }));
  }

  async keyId(): Promise<Digest> {
    return sha256Digest(this.#publicKey);
  }

  async publicKey(): Promise<Uint8Array> {
    return Uint8Array.from(this.#publicKey);
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const signature =
      this.algorithm === 'ed25519' ? sign(null, message, this.#privateKey) : sign('sha256', message, { key: this.#privateKey, dsaEncoding: 'der' });
    return new Uint8Array(signature);
  }
}

/** Builds an in-memory signer. */
export function createInMemorySigner(settings: InMemorySignerSettings = {}): InMemorySigner {
  return new InMemorySigner(settings);
}

function generate(algorithm: SignatureAlgorithm): KeyObject {
  return algorithm === 'ed25519' ? generateKeyPairSync('ed25519').privateKey : generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}
