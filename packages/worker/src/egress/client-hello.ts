/**
 * The most bytes read while waiting for a whole ClientHello. A real one is a few hundred bytes
 * (about 1.8 KiB with a post-quantum key share); past this the client is not sending one.
 */
export const clientHelloByteLimit = 16 * 1024;

/** What the first bytes of a tunnel say so far. */
export type ClientHelloReading =
  /** A whole ClientHello: its server name (SNI), undefined when it carries none. */
  | { readonly state: 'complete'; readonly serverName: string | undefined }
  /** Nothing wrong yet: more bytes are needed. */
  | { readonly state: 'incomplete' }
  | { readonly state: 'invalid'; readonly reason: string };

const handshakeRecord = 0x16;
const clientHelloType = 0x01;
const serverNameExtension = 0x0000;
const hostNameType = 0x00;
// TLS caps a record's plaintext at 2^14 bytes (RFC 8446 §5.1).
const recordLimit = 16_384;

class Truncated extends Error {}

/** Reads big-endian fields from a ClientHello's body; reading past the end throws Truncated. */
class Cursor {
  #offset = 0;
  // A plain field, not a parameter property: Node runs this source with types stripped, not transformed.
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
  get done(): boolean {
    return this.#offset === this.bytes.length;
  }
  number(size: 1 | 2 | 3): number {
    if (this.#offset + size > this.bytes.length) throw new Truncated();
    let value = 0;
    for (let index = 0; index < size; index++) value = value * 256 + this.bytes[this.#offset + index]!;
    this.#offset += size;
    return value;
  }
  take(length: number): Cursor {
    if (this.#offset + length > this.bytes.length) throw new Truncated();
    const part = new Cursor(this.bytes.subarray(this.#offset, this.#offset + length));
    this.#offset += length;
    return part;
  }
}

/**
 * Reads the ClientHello at the start of `bytes` (what a client sent first through a tunnel, as
 * many TCP chunks as have come), reassembling a handshake split over several records. Anything
 * that is not one is `invalid` as soon as its first byte says so, so a client that speaks
 * plain HTTP into a tunnel is refused at once rather than after a timeout.
 */
export function readClientHello(bytes: Uint8Array): ClientHelloReading {
  const handshake: Uint8Array[] = [];
  let handshakeLength = 0;
  let offset = 0;
  for (;;) {
    if (bytes.length > offset && bytes[offset] !== handshakeRecord)
      return {
        state: 'invalid',
        reason:
          offset === 0
            ? 'the first bytes through the tunnel are not TLS (a ClientHello record starts with 0x16)'
            : 'the ClientHello is interrupted by a record that is not a handshake',
      };
    if (bytes.length > offset + 1 && bytes[offset + 1] !== 0x03) return { state: 'invalid', reason: 'the TLS record has an unknown version' };
    if (bytes.length < offset + 5) return incomplete(bytes);
    const recordLength = bytes[offset + 3]! * 256 + bytes[offset + 4]!;
    if (recordLength === 0 || recordLength > recordLimit) return { state: 'invalid', reason: `a TLS record of ${recordLength} bytes is not a valid record` };
    if (bytes.length < offset + 5 + recordLength) return incomplete(bytes);
    handshake.push(bytes.subarray(offset + 5, offset + 5 + recordLength));
    handshakeLength += recordLength;
    offset += 5 + recordLength;
    if (handshakeLength < 4) continue;
    const message = Buffer.concat(handshake);
    if (message[0] !== clientHelloType) return { state: 'invalid', reason: 'the first TLS handshake message is not a ClientHello' };
    const bodyLength = message.readUIntBE(1, 3);
    if (bodyLength + 4 > clientHelloByteLimit) return { state: 'invalid', reason: `a ClientHello of ${bodyLength} bytes is larger than any client sends` };
    if (message.length < bodyLength + 4) continue;
    try {
      return { state: 'complete', serverName: serverNameOf(new Cursor(message.subarray(4, 4 + bodyLength))) };
    } catch (error) {
      if (error instanceof Truncated) return { state: 'invalid', reason: 'the ClientHello is malformed (a field runs past its end)' };
      if (error instanceof Malformed) return { state: 'invalid', reason: error.message };
      throw error;
    }
  }
}

function incomplete(bytes: Uint8Array): ClientHelloReading {
  return bytes.length >= clientHelloByteLimit
    ? { state: 'invalid', reason: `no whole ClientHello within the first ${clientHelloByteLimit} bytes` }
    : { state: 'incomplete' };
}

class Malformed extends Error {}

function serverNameOf(body: Cursor): string | undefined {
  body.number(2); // legacy_version
  body.take(32); // random
  body.take(body.number(1)); // legacy_session_id
  body.take(body.number(2)); // cipher_suites
  body.take(body.number(1)); // legacy_compression_methods
  // A ClientHello without extensions (SSL 3-era) has no SNI.
  if (body.done) return undefined;
  const extensions = body.take(body.number(2));
  let serverName: string | undefined;
  while (!extensions.done) {
    const type = extensions.number(2);
    const data = extensions.take(extensions.number(2));
    if (type !== serverNameExtension) continue;
    if (serverName !== undefined) throw new Malformed('the ClientHello carries two server_name extensions');
    const list = data.take(data.number(2));
    while (!list.done) {
      const nameType = list.number(1);
      const name = list.take(list.number(2)).bytes;
      if (nameType !== hostNameType) continue;
      // RFC 6066: one host_name, in ASCII, without a trailing dot; a control byte would let a name read as another.
      if (serverName !== undefined) throw new Malformed('the ClientHello names two hosts in its server_name extension');
      if (name.length === 0 || name.some((byte) => byte <= 0x20 || byte >= 0x7f)) throw new Malformed('the ClientHello server name is not an ASCII host name');
      serverName = Buffer.from(name).toString('ascii');
    }
    if (serverName === undefined) throw new Malformed('the ClientHello server_name extension names no host');
  }
  return serverName;
}
