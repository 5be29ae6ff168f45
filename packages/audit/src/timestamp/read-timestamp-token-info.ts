import { CairnError, children, DerError, derTag, expectTag, generalizedTime, objectIdentifier, readElement } from '@cairn/protocol';

const tstInfoType = '1.2.840.113549.1.9.16.1.4';
const signedDataType = '1.2.840.113549.1.7.2';

const hashNames: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** The fields of a token's TSTInfo a requester compares with its request. */
export interface TimestampTokenInfo {
  /** The message imprint's hash (`sha256`, ...; the dotted OID when it is not one of those). */
  readonly hashAlgorithm: string;
  readonly hashedMessage: Uint8Array;
  /** The requester's nonce echoed by the TSA, when the request had one. */
  readonly nonce?: bigint;
  readonly serialNumber: bigint;
  /** genTime, ISO 8601. */
  readonly time: string;
  /** The TSA policy the token was issued under (dotted OID). */
  readonly policy: string;
}

/**
 * Reads the TSTInfo of an RFC 3161 token (DER `TimeStampToken`) WITHOUT verifying it: what a
 * requester needs to match a reply to its request (hash algorithm, nonce) after
 * `verifyTimestampToken` has checked the signature and the imprint. Never trust these fields on
 * their own. A token that is not a CMS SignedData over a TSTInfo is CAIRN_SIGNATURE_INVALID
 * naming what was malformed.
 */
export function readTimestampTokenInfo(token: Uint8Array): TimestampTokenInfo {
  try {
    const contentInfo = children(expectTag(readElement(token), derTag.sequence, 'ContentInfo'));
    if (objectIdentifier(contentInfo[0]!) !== signedDataType) throw new DerError('it is not CMS SignedData');
    const signedData = children(expectTag(children(expectTag(contentInfo[1], derTag.contextConstructed0, 'content'))[0], derTag.sequence, 'SignedData'));
    const encapsulated = children(expectTag(signedData[2], derTag.sequence, 'encapContentInfo'));
    if (objectIdentifier(encapsulated[0]!) !== tstInfoType) throw new DerError('it does not hold a TSTInfo');
    const tstInfoDer = expectTag(children(expectTag(encapsulated[1], derTag.contextConstructed0, 'eContent'))[0], derTag.octetString, 'eContent').content;
    // TSTInfo: version, policy, messageImprint, serialNumber, genTime, accuracy?, ordering?, nonce?, tsa?, extensions?
    const fields = children(expectTag(readElement(tstInfoDer), derTag.sequence, 'TSTInfo'));
    const [algorithm, hashed] = children(expectTag(fields[2], derTag.sequence, 'messageImprint'));
    const algorithmId = objectIdentifier(children(expectTag(algorithm, derTag.sequence, 'hashAlgorithm'))[0]!);
    // The nonce is the only INTEGER after genTime (accuracy is a SEQUENCE, ordering a BOOLEAN).
    const nonce = fields.slice(5).find((field) => field.tag === derTag.integer);
    return {
      hashAlgorithm: hashNames[algorithmId] ?? algorithmId,
      hashedMessage: expectTag(hashed, derTag.octetString, 'hashedMessage').content,
      ...(nonce === undefined ? {} : { nonce: integerValue(nonce.content) }),
      serialNumber: integerValue(expectTag(fields[3], derTag.integer, 'serialNumber').content),
      time: generalizedTime(fields[4]!),
      policy: objectIdentifier(fields[1]!),
    };
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `The RFC 3161 timestamp token is malformed: ${(error as Error).message}.`, { cause: error });
  }
}

/** A DER INTEGER's value (two's complement, big-endian). */
function integerValue(content: Uint8Array): bigint {
  if (content.length === 0) throw new DerError('empty integer');
  let value = 0n;
  for (const byte of content) value = (value << 8n) | BigInt(byte);
  return content[0]! & 0x80 ? value - (1n << BigInt(content.length * 8)) : value;
}
