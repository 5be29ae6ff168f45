// Node's `Buffer` for the browser build of the evidence and provenance verifiers: exactly the calls
// @cairn/audit's verifier and @cairn/protocol's canonical bytes make (src/browser-node/buffer-global.ts
// installs it as the global they name), each answering what Node answers. The `buffer` package
// carries all of Node's API (about 6 KB gzipped, most of what the page would load for it); this is
// the part the verifier uses. An encoding it does not know throws, and a Buffer call it lacks is
// not a function, so a verifier change that needs more fails loudly, not wrongly. What it returns
// is a Uint8Array: of the methods Node's Buffer changes, the verifier uses `subarray` and `set`,
// which agree (Uint8Array's `slice` copies where Node's shares memory: the verifier slices only
// arrays and strings). test/browser-node-buffer.test.ts holds every call to Node's answer.

type Encoding = 'utf8' | 'utf-8' | 'hex' | 'base64';

const hexDigits = '0123456789abcdef';
const base64Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
// Node's base64 decoder also takes the URL-safe alphabet ('-' and '_').
const base64Values = new Map<string, number>([...base64Alphabet].map((character, value) => [character, value]));
base64Values.set('-', 62);
base64Values.set('_', 63);

function unknownEncoding(encoding: unknown): never {
  throw new TypeError(`the browser verifier's Buffer reads and writes utf8, hex and base64 only, not ${String(encoding)}`);
}

/**
 * Node's hex decoding: pairs of hex digits up to the first pair that is not one (an odd last digit
 * is dropped). Node reads each character by its low byte, as its one-byte copy of the text holds it.
 */
function fromHex(text: string): Uint8Array<ArrayBuffer> {
  const digit = (index: number) => hexDigits.indexOf(String.fromCharCode(text.charCodeAt(index) & 0xff).toLowerCase());
  const bytes = new Uint8Array(text.length >>> 1);
  let length = 0;
  for (; length < bytes.length; length++) {
    const high = digit(2 * length);
    const low = digit(2 * length + 1);
    if (high < 0 || low < 0) break;
    bytes[length] = (high << 4) | low;
  }
  return bytes.subarray(0, length);
}

/**
 * Node's forgiving base64 decoding: both alphabets, characters outside them skipped, the text ended
 * at its first '='. (Callers that must refuse slack encode the bytes again and compare, as
 * decodeBase64Strict does; that works because this decodes every canonical text as Node does.)
 */
function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(Math.floor((text.length * 3) / 4));
  let length = 0;
  let bits = 0;
  let carried = 0;
  for (const character of text) {
    if (character === '=') break;
    const value = base64Values.get(character);
    if (value === undefined) continue;
    carried = (carried << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[length++] = (carried >>> bits) & 0xff;
      carried &= (1 << bits) - 1;
    }
  }
  return bytes.subarray(0, length);
}

function toBase64(bytes: Uint8Array): string {
  let text = '';
  for (let index = 0; index < bytes.length; index += 3) {
    const chunk = (bytes[index]! << 16) | ((bytes[index + 1] ?? 0) << 8) | (bytes[index + 2] ?? 0);
    text += base64Alphabet[chunk >>> 18]! + base64Alphabet[(chunk >>> 12) & 63]!;
    text += index + 1 < bytes.length ? base64Alphabet[(chunk >>> 6) & 63]! : '=';
    text += index + 2 < bytes.length ? base64Alphabet[chunk & 63]! : '=';
  }
  return text;
}

function compareBytes(left: Uint8Array, right: Uint8Array): -1 | 0 | 1 {
  const shorter = Math.min(left.length, right.length);
  for (let index = 0; index < shorter; index++) if (left[index] !== right[index]) return left[index]! < right[index]! ? -1 : 1;
  return left.length === right.length ? 0 : left.length < right.length ? -1 : 1;
}

/** The bytes Buffer's calls return: a Uint8Array that also compares and encodes itself as Node's does. */
export class BufferBytes extends Uint8Array {
  equals(other: Uint8Array): boolean {
    return compareBytes(this, other) === 0;
  }

  override toString(encoding: Encoding = 'utf8'): string {
    // Node keeps a leading byte order mark; TextDecoder drops it unless told not to.
    if (encoding === 'utf8' || encoding === 'utf-8') return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this);
    if (encoding === 'hex') return Array.from(this, (byte) => byte.toString(16).padStart(2, '0')).join('');
    if (encoding === 'base64') return toBase64(this);
    return unknownEncoding(encoding);
  }
}

function decode(text: string, encoding: Encoding): Uint8Array<ArrayBuffer> {
  if (encoding === 'utf8' || encoding === 'utf-8') return new TextEncoder().encode(text);
  if (encoding === 'hex') return fromHex(text);
  if (encoding === 'base64') return fromBase64(text);
  return unknownEncoding(encoding);
}

/** The static calls (Node's `Buffer.*`) the verifier makes; no `Buffer.isBuffer`, no `new Buffer`. */
export const Buffer = {
  /**
   * `Buffer.from(text, encoding)` decodes (utf8 when no encoding is named); `Buffer.from(bytes)`
   * copies; `Buffer.from(arrayBuffer, byteOffset?, length?)` is a view on the same memory.
   */
  from(source: string | Uint8Array | ArrayBuffer | readonly number[], encodingOrOffset?: Encoding | number, length?: number): BufferBytes {
    if (typeof source === 'string') {
      const bytes = decode(source, typeof encodingOrOffset === 'string' ? encodingOrOffset : 'utf8');
      return new BufferBytes(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    if (source instanceof ArrayBuffer) {
      const offset = typeof encodingOrOffset === 'number' ? encodingOrOffset : 0;
      return new BufferBytes(source, offset, length ?? source.byteLength - offset);
    }
    const copy = new BufferBytes(source.length);
    copy.set(source);
    return copy;
  },
  /** Zero-filled. */
  alloc(size: number): BufferBytes {
    return new BufferBytes(size);
  },
  /** Node may leave this memory unzeroed; zeroed serves every caller as well. */
  allocUnsafe(size: number): BufferBytes {
    return new BufferBytes(size);
  },
  allocUnsafeSlow(size: number): BufferBytes {
    return new BufferBytes(size);
  },
  concat(list: readonly Uint8Array[]): BufferBytes {
    const joined = new BufferBytes(list.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of list) {
      joined.set(part, offset);
      offset += part.length;
    }
    return joined;
  },
  /** Byte-wise order, a shorter prefix first. */
  compare(left: Uint8Array, right: Uint8Array): -1 | 0 | 1 {
    return compareBytes(left, right);
  },
};
