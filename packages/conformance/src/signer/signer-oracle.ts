/**
 * An independent view of the signing key: for a KMS key, the public key fetched with a raw
 * client; for a key file, the public key derived from the file with `node:crypto`.
 */
export interface SignerOracle {
  /** The public key (SubjectPublicKeyInfo, DER) that the backend holds for this signer. */
  publicKey(): Promise<Uint8Array> | Uint8Array;
}
