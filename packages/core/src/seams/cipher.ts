/**
 * What a ciphertext is bound to (`{ secret: 'GITHUB_TOKEN', scope: 'run:abc' }`): used as
 * additional authenticated data, so a ciphertext moved to another context does not decrypt.
 */
export type CipherContext = Readonly<Record<string, string>>;

/** An encrypted value, as stored. Binary fields are base64. */
export interface CipherEnvelope {
  readonly version: 1;
  readonly algorithm: string;
  /** Identifies the key (or KMS key) that can decrypt it. */
  readonly keyId: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
  /** The data key encrypted by a key-encryption key, for envelope encryption (KMS). */
  readonly encryptedKey?: string;
}

/**
 * Envelope-encrypts small secrets (tokens, API keys) bound to a context.
 *
 * Guarantees:
 * - Authenticated: `decrypt` of an altered envelope, or with a context that differs in any key or
 *   value, fails with CAIRN_CIPHER_DECRYPT_FAILED, never returns wrong bytes.
 * - Context order does not matter (it is canonicalised before use).
 * - A fresh IV per `encrypt`: encrypting the same plaintext twice gives different envelopes.
 *
 * Errors: CAIRN_CIPHER_DECRYPT_FAILED (as above); CAIRN_CIPHER_UNAVAILABLE when a key service (KMS)
 * refuses the key or does not answer, for `encrypt` and `decrypt` alike, as a rejected promise.
 *
 * How to implement: use an AEAD (AES-256-GCM), pass the canonical JSON of the context as AAD,
 * never log plaintext, and run `describeCipher` from `@cairn/conformance`.
 */
export interface CipherV1 {
  readonly specificationVersion: 'v1';
  readonly provider: string;
  encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope>;
  decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array>;
}
