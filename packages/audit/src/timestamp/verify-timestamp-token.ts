import { createHash, verify, X509Certificate } from 'node:crypto';
import { CairnError, children, DerError, derTag, expectTag, generalizedTime, objectIdentifier, readElement, type DerElement } from '@cairn/protocol';

const oid = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
} as const;

const digestNames: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** What a verified token says. */
export interface VerifiedTimestamp {
  /** When the TSA saw the data (ISO 8601). */
  readonly time: string;
  /** The subject of the TSA certificate that signed it. */
  readonly authority: string;
}

/**
 * Verifies an RFC 3161 timestamp token (DER `TimeStampToken`, a CMS SignedData over a TSTInfo)
 * against `data` and the TSA certificates the caller trusts: the token's message imprint must be
 * the hash of `data`; its signed attributes must name the TSTInfo's content type and digest; the
 * signature over them must verify with a trusted certificate that is valid at the stamped time
 * and allowed to stamp (extended key usage timeStamping). Certificates inside the token are not
 * trusted. Throws CAIRN_SIGNATURE_INVALID saying which step failed.
 */
export function verifyTimestampToken(token: Uint8Array, data: Uint8Array, trustedCertificates: readonly (X509Certificate | string)[]): VerifiedTimestamp {
  try {
    return verifyOrThrow(
      token,
      data,
      trustedCertificates.map((certificate) => (typeof certificate === 'string' ? new X509Certificate(certificate) : certificate)),
    );
  } catch (error) {
    if (error instanceof CairnError) throw error;
    const reason = error instanceof DerError ? `malformed token: ${error.message}` : (error as Error).message;
    throw new CairnError('CAIRN_SIGNATURE_INVALID', `The RFC 3161 timestamp token does not verify: ${reason}.`, { cause: error });
  }
}

function refuse(reason: string): never {
  throw new CairnError('CAIRN_SIGNATURE_INVALID', `The RFC 3161 timestamp token does not verify: ${reason}.`);
}

function verifyOrThrow(token: Uint8Array, data: Uint8Array, trusted: readonly X509Certificate[]): VerifiedTimestamp {
  const contentInfo = readElement(token);
  if (contentInfo.bytes.length !== token.length) refuse('bytes follow the token');
  const [contentType, explicitContent] = children(expectTag(contentInfo, derTag.sequence, 'ContentInfo'));
  if (objectIdentifier(contentType!) !== oid.signedData) refuse('it is not CMS SignedData');
  const signedData = children(expectTag(children(expectTag(explicitContent, derTag.contextConstructed0, 'content'))[0], derTag.sequence, 'SignedData'));
  const encapsulated = children(expectTag(signedData[2], derTag.sequence, 'encapContentInfo'));
  if (objectIdentifier(encapsulated[0]!) !== oid.tstInfo) refuse('it does not hold a TSTInfo');
  const tstInfoDer = expectTag(children(expectTag(encapsulated[1], derTag.contextConstructed0, 'eContent'))[0], derTag.octetString, 'eContent').content;
  const tstInfo = children(expectTag(readElement(tstInfoDer), derTag.sequence, 'TSTInfo'));
  // TSTInfo: version, policy, messageImprint, serialNumber, genTime, ...
  const [imprintAlgorithm, imprintHash] = children(expectTag(tstInfo[2], derTag.sequence, 'messageImprint'));
  const imprintDigest = digestNames[objectIdentifier(children(imprintAlgorithm!)[0]!)];
  if (!imprintDigest) refuse('the message imprint uses an unsupported hash');
  const expectedImprint = createHash(imprintDigest).update(data).digest();
  if (!Buffer.from(expectTag(imprintHash, derTag.octetString, 'hashedMessage').content).equals(expectedImprint))
    refuse('it stamps other data (message imprint mismatch)');
  const time = generalizedTime(tstInfo[4]!);

  const signerInfos = children(expectTag(signedData.at(-1), derTag.set, 'signerInfos'));
  if (signerInfos.length !== 1) refuse(`it has ${signerInfos.length} signers, expected one`);
  const signerInfo = children(expectTag(signerInfos[0], derTag.sequence, 'SignerInfo'));
  const digestName = digestNames[objectIdentifier(children(signerInfo[2]!)[0]!)];
  if (!digestName) refuse('the signer uses an unsupported digest');
  const signedAttributes = expectTag(signerInfo[3], derTag.contextConstructed0, 'signedAttrs');
  checkSignedAttributes(signedAttributes, createHash(digestName).update(tstInfoDer).digest());
  const signature = expectTag(signerInfo[5], derTag.octetString, 'signature').content;
  // The signature covers the attributes' DER with the SET tag, not the [0] they are stored under.
  const signedBytes = Uint8Array.from(signedAttributes.bytes);
  signedBytes[0] = derTag.set;

  const signer = trusted.find((certificate) => {
    try {
      return verify(digestName, signedBytes, certificate.publicKey, signature);
    } catch {
      return false;
    }
  });
  if (!signer) refuse('no trusted TSA certificate verifies its signature');
  if (!signer.keyUsage?.includes(oid.timeStamping))
    refuse(`the certificate ${signer.subject} is not allowed to timestamp (no timeStamping extended key usage)`);
  const stamped = Date.parse(time);
  if (stamped < Date.parse(signer.validFrom) || stamped > Date.parse(signer.validTo)) refuse(`the certificate ${signer.subject} was not valid at ${time}`);
  return { time, authority: signer.subject.replaceAll('\n', ', ') };
}

function checkSignedAttributes(signedAttributes: DerElement, tstInfoDigest: Buffer): void {
  const attributes = new Map<string, DerElement>();
  for (const attribute of children(signedAttributes)) {
    const [type, values] = children(expectTag(attribute, derTag.sequence, 'Attribute'));
    attributes.set(objectIdentifier(type!), children(expectTag(values, derTag.set, 'attribute values'))[0]!);
  }
  const contentType = attributes.get(oid.contentType);
  if (!contentType || objectIdentifier(contentType) !== oid.tstInfo) refuse('its signed content type is not TSTInfo');
  const digest = attributes.get(oid.messageDigest);
  if (!digest || !Buffer.from(expectTag(digest, derTag.octetString, 'messageDigest').content).equals(tstInfoDigest))
    refuse('its signed message digest does not match the TSTInfo');
}
