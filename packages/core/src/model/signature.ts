import type { Digest } from './digest.ts';

/** A signer's public key as carried in bundles and the key registry. */
export interface PublicKeyRecord {
  /** `sha256:<hex>` of the DER public key. */
  readonly keyId: Digest;
  readonly algorithm: SignatureAlgorithm;
  /** Base64 DER SubjectPublicKeyInfo. */
  readonly publicKey: string;
}

/** Signature algorithms Cairn verifies. ECDSA signatures are DER-encoded. */
export type SignatureAlgorithm = 'ed25519' | 'ecdsa-p256-sha256';
