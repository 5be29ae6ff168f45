/**
 * A minimal DER codec: what RFC 3161 timestamps need (a TimeStampReq written, a TimeStampResp and
 * its CMS token read). It reads definite-length TLVs and refuses anything else (BER indefinite
 * lengths, lengths past the end, multi-byte tags), so a malformed reply or token fails cleanly
 * (`DerError`) instead of being half-read.
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
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
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

/** A small non-negative INTEGER's value (a status code). */
export function smallInteger(element: DerElement): number {
  const content = expectTag(element, derTag.integer, 'integer').content;
  if (content.length === 0 || content.length > 4 || content[0]! & 0x80) throw new DerError('integer out of range');
  return content.reduce((value, byte) => value * 256 + byte, 0);
}

/** One element: tag, definite length, content. */
export function encodeElement(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else {
    const octets: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
    header = [tag, 0x80 | octets.length, ...octets];
  }
  const element = new Uint8Array(header.length + length);
  element.set(header);
  element.set(content, header.length);
  return element;
}

/** A SEQUENCE of the given encoded elements. */
export function encodeSequence(...elements: Uint8Array[]): Uint8Array {
  return encodeElement(derTag.sequence, concat(elements));
}

/** A non-negative INTEGER in its shortest two's-complement form. */
export function encodeInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new DerError('negative integers are not encoded here');
  const bytes: number[] = [];
  for (let rest = value; rest > 0n; rest >>= 8n) bytes.unshift(Number(rest & 0xffn));
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return encodeElement(derTag.integer, Uint8Array.from(bytes));
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function encodeObjectIdentifier(dotted: string): Uint8Array {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [];
  for (const arc of [first! * 40 + second!, ...rest]) {
    const chunk = [arc & 0x7f];
    for (let remaining = Math.floor(arc / 128); remaining > 0; remaining = Math.floor(remaining / 128)) chunk.unshift((remaining & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return encodeElement(derTag.objectIdentifier, Uint8Array.from(bytes));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
