/**
 * The few DER pieces a timestamp request and reply need: encoding a TimeStampReq, and reading the
 * outer TimeStampResp (status and token). Only definite lengths are read; anything else is refused
 * (`DerError`), so a malformed reply fails cleanly. The token itself is read and verified by
 * `@cairn/audit`.
 */
export class DerError extends Error {}

export interface DerElement {
  readonly tag: number;
  /** The whole element, header included. */
  readonly bytes: Uint8Array;
  readonly content: Uint8Array;
}

export const derTag = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  objectIdentifier: 0x06,
  utf8String: 0x0c,
  sequence: 0x30,
} as const;

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

/** The element at `offset` of `bytes`. */
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

/** A small non-negative INTEGER's value (a status code). */
export function smallInteger(element: DerElement): number {
  const content = expectTag(element, derTag.integer, 'integer').content;
  if (content.length === 0 || content.length > 4 || content[0]! & 0x80) throw new DerError('integer out of range');
  return content.reduce((value, byte) => value * 256 + byte, 0);
}
