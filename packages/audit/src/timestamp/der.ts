/**
 * A minimal DER reader: just what verifying an RFC 3161 token needs. It reads definite-length
 * TLVs and refuses anything else (BER indefinite lengths, lengths past the end), so a malformed
 * token fails cleanly instead of being half-read.
 */
export interface DerElement {
  /** The identifier octet (class, constructed bit and tag number; tags above 30 are refused). */
  readonly tag: number;
  /** The whole element, header included (what a signature over it covers). */
  readonly bytes: Uint8Array;
  /** The contents, without the header. */
  readonly content: Uint8Array;
}

export class DerError extends Error {}

/** Tags used by CMS and RFC 3161. */
export const derTag = {
  integer: 0x02,
  octetString: 0x04,
  objectIdentifier: 0x06,
  sequence: 0x30,
  set: 0x31,
  generalizedTime: 0x18,
  contextConstructed0: 0xa0,
  contextConstructed1: 0xa1,
  contextPrimitive0: 0x80,
} as const;

/** The one element at `offset` of `bytes`. */
export function readElement(bytes: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new DerError('truncated element header');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here');
  let length = bytes[offset + 1]!;
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) throw new DerError('indefinite or oversized length');
    if (offset + 2 + octets > bytes.length) throw new DerError('truncated length');
    length = 0;
    for (let index = 0; index < octets; index++) length = length * 256 + bytes[offset + 2 + index]!;
    header += octets;
  }
  const end = offset + header + length;
  if (end > bytes.length) throw new DerError('element runs past the end');
  return { tag, bytes: bytes.subarray(offset, end), content: bytes.subarray(offset + header, end) };
}

/** The elements inside a constructed element, in order. */
export function children(element: DerElement): DerElement[] {
  const found: DerElement[] = [];
  for (let offset = 0; offset < element.content.length;) {
    const child = readElement(element.content, offset);
    found.push(child);
    offset += child.bytes.length;
  }
  return found;
}

/** `element` if it has `tag`; a DerError naming `what` otherwise. */
export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (!element || element.tag !== tag)
    throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found ${element ? `0x${element.tag.toString(16)}` : 'nothing'}`);
  return element;
}

/** The dotted form of an OBJECT IDENTIFIER. */
export function objectIdentifier(element: DerElement): string {
  const bytes = expectTag(element, derTag.objectIdentifier, 'object identifier').content;
  if (bytes.length === 0) throw new DerError('empty object identifier');
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  const first = parts.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

/** A GeneralizedTime (`YYYYMMDDHHMMSS[.fff]Z`) as ISO 8601. */
export function generalizedTime(element: DerElement): string {
  const text = new TextDecoder().decode(expectTag(element, derTag.generalizedTime, 'time').content);
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(text);
  if (!match) throw new DerError(`not a UTC GeneralizedTime: ${text}`);
  const [, year, month, day, hour, minute, second, fraction] = match;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}${fraction ?? ''}Z`).toISOString();
}
