import type { DsseEnvelope } from '@cairn/core';
import { anchorReceiptSchema } from '@cairn/protocol';

/**
 * The RFC 3161 token of a checkpoint, from the receipts the engine signed when anchoring it: the
 * first receipt that carries one (an `rfc3161` anchor's). An evidence bundle carries it as
 * `timestamp`, so a verifier trusting the TSA certificate reaches the claim `witnessed`. The
 * receipts are the engine's own, read from its database, so their signatures are not checked
 * again here (the verifier checks the token itself).
 */
export function receiptTimestampToken(receipts: readonly DsseEnvelope[]): Uint8Array | undefined {
  for (const envelope of receipts) {
    const receipt = anchorReceiptSchema.safeParse(JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')));
    if (receipt.success && receipt.data.timestampToken !== undefined) return new Uint8Array(Buffer.from(receipt.data.timestampToken, 'base64'));
  }
  return undefined;
}
