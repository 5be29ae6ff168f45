import { children, DerError, derTag, expectTag, readElement, smallInteger } from '@cairn/protocol';

/** PKIStatus values (RFC 3161 section 2.4.2). */
const statusNames = ['granted', 'grantedWithMods', 'rejection', 'waiting', 'revocationWarning', 'revocationNotification'] as const;

/** PKIFailureInfo bit names, by bit number. */
const failureNames: Record<number, string> = {
  0: 'badAlg',
  2: 'badRequest',
  5: 'badDataFormat',
  14: 'timeNotAvailable',
  15: 'unacceptedPolicy',
  16: 'unacceptedExtension',
  17: 'addInfoNotAvailable',
  25: 'systemFailure',
};

/** A TimeStampResp read (not verified). */
export interface TimestampResponse {
  /** The PKIStatus name (`granted`, `rejection`, ...) or `status <n>` for an unknown one. */
  readonly status: string;
  /** Whether the status grants a token (`granted` or `grantedWithMods`). */
  readonly granted: boolean;
  /** The TSA's free text, joined. */
  readonly statusText: string;
  /** The failure bits named (`badAlg`, `systemFailure`, ...). */
  readonly failures: readonly string[];
  /** The TimeStampToken's DER, when there is one. */
  readonly token?: Uint8Array;
}

/** Reads a DER `TimeStampResp`; throws DerError when it is not one. */
export function readTimestampResponse(bytes: Uint8Array): TimestampResponse {
  const response = readElement(bytes);
  if (response.bytes.length !== bytes.length) throw new DerError('bytes follow the reply');
  const [statusInfo, token] = children(expectTag(response, derTag.sequence, 'TimeStampResp'));
  const statusFields = children(expectTag(statusInfo, derTag.sequence, 'PKIStatusInfo'));
  const code = smallInteger(statusFields[0]!);
  const text = statusFields.find((field) => field.tag === derTag.sequence);
  const failInfo = statusFields.find((field) => field.tag === derTag.bitString);
  return {
    status: statusNames[code] ?? `status ${code}`,
    granted: code === 0 || code === 1,
    statusText: text
      ? children(text)
          .map((part) => new TextDecoder().decode(part.content))
          .join(' ')
      : '',
    failures: failInfo ? failureBits(failInfo.content) : [],
    ...(token === undefined ? {} : { token: expectTag(token, derTag.sequence, 'TimeStampToken').bytes }),
  };
}

function failureBits(content: Uint8Array): string[] {
  // BIT STRING: the first octet counts the unused bits; bit 0 is the high bit of the next octet.
  const names: string[] = [];
  for (let index = 1; index < content.length; index++) {
    for (let bit = 0; bit < 8; bit++) {
      if (content[index]! & (0x80 >> bit)) {
        const number = (index - 1) * 8 + bit;
        names.push(failureNames[number] ?? `bit ${number}`);
      }
    }
  }
  return names;
}
