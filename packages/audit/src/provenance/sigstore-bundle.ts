import { z } from 'zod';

/**
 * A Sigstore bundle (protobuf-specs `dev.sigstore.bundle.v1.Bundle`, version 0.3, in its JSON
 * form) holding one DSSE envelope and naming its key by a hint: the shape `cosign` and
 * `@sigstore/verify` read. Cairn writes no transparency-log entry and no timestamp (its own log
 * and anchors are where an attempt is witnessed), so `tlogEntries` is empty; the schema is the
 * subset Cairn writes, strict.
 */
export const sigstoreBundleMediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be standard base64');

export const sigstoreBundleSchema = z.strictObject({
  mediaType: z.literal(sigstoreBundleMediaType),
  verificationMaterial: z.strictObject({
    /** The signing key's id (`sha256:<hex>` of its DER public key); the verifier brings the key. */
    publicKey: z.strictObject({ hint: z.string().min(1) }),
    tlogEntries: z.tuple([]),
  }),
  dsseEnvelope: z.strictObject({
    payload: base64,
    payloadType: z.string().min(1),
    // Sigstore bundles carry exactly one signature.
    signatures: z.tuple([z.strictObject({ sig: base64, keyid: z.string() })]),
  }),
});

export type SigstoreBundle = z.output<typeof sigstoreBundleSchema>;
