import type { Digest } from '../model/digest.ts';
import type { SignatureAlgorithm } from '../model/signature.ts';

/**
 * Signs bytes with a private key it never reveals: checkpoints and dispatch manifests (as DSSE
 * PAE bytes).
 *
 * Guarantees:
 * - `publicKey` is the DER SubjectPublicKeyInfo of the signing key, and every signature verifies
 *   with it under `algorithm` (`crypto.verify(null | 'sha256', message, spki, signature)`;
 *   ECDSA signatures are DER-encoded).
 * - `keyId` is `sha256:<hex>` of the public key's DER bytes, so anyone can recompute it from the
 *   key and pin it.
 * - The same instance always answers the same key id and public key.
 *
 * Errors: CAIRN_SIGNER_FAILED (key missing or unreadable, KMS refused), as a rejected promise.
 *
 * How to implement: load or fetch the public key once, never log key material, and run
 * `describeSigner` from `@cairn/conformance`.
 */
export interface SignerV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  readonly algorithm: SignatureAlgorithm;
  keyId(): Promise<Digest>;
  publicKey(): Promise<Uint8Array>;
  sign(message: Uint8Array): Promise<Uint8Array>;
}
