import type { AnchorReceipt, DsseEnvelope, SignerV1 } from '@cairn/core';
import { anchorReceiptSchema, canonicalJsonBytes, sha256Digest } from '@cairn/protocol';
import { signCanonicalPayload, openCanonicalPayload } from '../checkpoint/canonical-payload.ts';
import type { TrustedKey } from '../dsse/verify-signature.ts';

/** DSSE payload type of an anchor receipt signed by the log key. */
export const receiptPayloadType = 'application/vnd.cairn.anchor-receipt+json';

/**
 * The bytes handed to `AuditAnchorV1.anchor` for a checkpoint envelope: its canonical JSON. A
 * receipt's `envelopeDigest` is the sha256 of exactly these bytes.
 */
export function anchorEnvelopeBytes(envelope: DsseEnvelope): Uint8Array {
  return canonicalJsonBytes(envelope);
}

/** The digest a receipt of `envelope` must carry. */
export function anchorEnvelopeDigest(envelope: DsseEnvelope): `sha256:${string}` {
  return sha256Digest(anchorEnvelopeBytes(envelope));
}

/**
 * Signs a receipt with the log key once it is obtained, so a bundle can carry it without any of
 * its fields (location, time, guarantee) being open to silent edits. Stored as returned and
 * reused by every export, which keeps exports byte-identical.
 */
export function signReceipt(receipt: AnchorReceipt, signer: SignerV1): Promise<DsseEnvelope> {
  return signCanonicalPayload(receiptPayloadType, receipt, anchorReceiptSchema, 'anchor receipt', signer);
}

/** Verifies a signed receipt and returns it. */
export function openReceipt(envelope: DsseEnvelope, trustedKeys: readonly TrustedKey[]): AnchorReceipt {
  return openCanonicalPayload(envelope, receiptPayloadType, trustedKeys, anchorReceiptSchema, 'anchor receipt');
}
