import { derTag, encodeElement, encodeInteger, encodeObjectIdentifier, encodeSequence } from '@cairn/protocol';

/** The OID of SHA-256, the one hash Cairn asks a TSA to stamp. */
export const sha256Oid = '2.16.840.1.101.3.4.2.1';

/** The media types of RFC 3161's HTTP transport (section 3.4). */
export const timestampQueryType = 'application/timestamp-query';
export const timestampReplyType = 'application/timestamp-reply';

/**
 * The DER `TimeStampReq` (RFC 3161 section 2.4.1) for a SHA-256 hash: version 1, the message
 * imprint, no policy (the TSA's default), the `nonce` (so a replayed or mixed-up reply is
 * detected) and certReq TRUE (the TSA includes its certificate; Cairn never trusts it, but a
 * verifier that has only the CA can still see who signed).
 */
export function timestampRequest(sha256: Uint8Array, nonce: bigint): Uint8Array {
  if (sha256.length !== 32) throw new RangeError('a SHA-256 hash is 32 bytes');
  const algorithm = encodeSequence(encodeObjectIdentifier(sha256Oid), encodeElement(derTag.null, new Uint8Array(0)));
  const messageImprint = encodeSequence(algorithm, encodeElement(derTag.octetString, sha256));
  return encodeSequence(encodeInteger(1n), messageImprint, encodeInteger(nonce), encodeElement(derTag.boolean, Uint8Array.of(0xff)));
}
