// `node:crypto` for the browser build of the evidence verifier (vite.config.ts aliases it here):
// exactly the calls @cairn/audit's verifier and @cairn/protocol's digests make, synchronous as
// theirs are, over audited pure-JS primitives (@noble/hashes SHA-256, @noble/curves Ed25519 and
// P-256). Anything else throws, so a verifier change that needs more fails loudly, not wrongly.
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { Buffer, type BufferBytes } from './node-buffer.ts';

const utf8 = new TextEncoder();
const bytesOf = (data: Uint8Array | string): Uint8Array => (typeof data === 'string' ? utf8.encode(data) : data);
const hexOf = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

function requireSha256(algorithm: string): void {
  if (algorithm.toLowerCase() !== 'sha256') throw new Error(`the browser verifier hashes with sha256 only, not ${algorithm}`);
}

/**
 * `crypto.hash(algorithm, data, outputEncoding)`: one-shot SHA-256 as a Buffer, hex, or a
 * 'binary' (latin1) string, one character a byte (@cairn/audit's Merkle hashes take that form).
 */
export function hash(algorithm: string, data: Uint8Array | string, outputEncoding: 'buffer' | 'hex' | 'binary' | 'latin1' = 'hex'): BufferBytes | string {
  requireSha256(algorithm);
  const digest = sha256(bytesOf(data));
  switch (outputEncoding) {
    case 'buffer':
      return Buffer.from(digest);
    case 'hex':
      return hexOf(digest);
    case 'binary':
    case 'latin1':
      return String.fromCharCode(...digest);
    default:
      throw new Error(`the browser verifier gives a hash as a Buffer, hex or a binary string, not ${String(outputEncoding)}`);
  }
}

/** `crypto.createHash('sha256')`: update, then digest as hex or a Buffer. */
export function createHash(algorithm: string) {
  requireSha256(algorithm);
  const state = sha256.create();
  const hasher = {
    update(data: Uint8Array | string) {
      state.update(bytesOf(data));
      return hasher;
    },
    digest(encoding?: 'hex') {
      const digest = state.digest();
      return encoding === 'hex' ? hexOf(digest) : Buffer.from(digest);
    },
  };
  return hasher;
}

/** `crypto.timingSafeEqual`: equal lengths required, as Node requires them. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) throw new RangeError('Input buffers must have the same byte length');
  let difference = 0;
  for (let index = 0; index < a.byteLength; index++) difference |= a[index]! ^ b[index]!;
  return difference === 0;
}

// The two SubjectPublicKeyInfo forms Cairn keys take (verify-signature.ts): the DER before the key.
const ed25519Prefix = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const p256Prefix = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);

/** What `createPublicKey` returns here: the fields verify-signature.ts reads, and the raw key. */
export interface KeyObject {
  readonly asymmetricKeyType: 'ed25519' | 'ec';
  readonly asymmetricKeyDetails: { readonly namedCurve?: string };
  readonly raw: Uint8Array;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array, length: number): boolean {
  return bytes.byteLength === length && prefix.every((byte, index) => bytes[index] === byte);
}

/** `crypto.createPublicKey({ key, format: 'der', type: 'spki' })` for Ed25519 and P-256 keys. */
export function createPublicKey(options: { key: Uint8Array; format: 'der'; type: 'spki' }): KeyObject {
  const der = options.key;
  if (options.format !== 'der' || options.type !== 'spki') throw new Error('the browser verifier reads DER SubjectPublicKeyInfo keys only');
  if (startsWith(der, ed25519Prefix, ed25519Prefix.byteLength + 32))
    return { asymmetricKeyType: 'ed25519', asymmetricKeyDetails: {}, raw: der.slice(ed25519Prefix.byteLength) };
  if (startsWith(der, p256Prefix, p256Prefix.byteLength + 65) && der[p256Prefix.byteLength] === 0x04)
    return { asymmetricKeyType: 'ec', asymmetricKeyDetails: { namedCurve: 'prime256v1' }, raw: der.slice(p256Prefix.byteLength) };
  throw new Error('not an Ed25519 or P-256 SubjectPublicKeyInfo');
}

/**
 * `crypto.verify`: Ed25519 (algorithm null) by RFC 8032's rules as OpenSSL applies them (not
 * ZIP 215's looser ones), or ECDSA P-256 over SHA-256 with a DER signature (high S accepted, as
 * OpenSSL accepts it).
 */
export function verify(
  algorithm: string | null,
  message: Uint8Array,
  key: KeyObject | { key: KeyObject; dsaEncoding?: 'der' },
  signature: Uint8Array,
): boolean {
  const keyObject = 'raw' in key ? key : key.key;
  if (algorithm === null) {
    if (keyObject.asymmetricKeyType !== 'ed25519') throw new Error('an Ed25519 verification needs an Ed25519 key');
    return ed25519.verify(signature, message, keyObject.raw, { zip215: false });
  }
  requireSha256(algorithm);
  if (keyObject.asymmetricKeyType !== 'ec') throw new Error('an ECDSA verification needs a P-256 key');
  return p256.verify(signature, message, keyObject.raw, { prehash: true, format: 'der', lowS: false });
}

/** RFC 3161 tokens are not verified in the page (no TSA certificate is trusted there): any use says so. */
export class X509Certificate {
  constructor() {
    throw new Error('X.509 certificates are not read in the browser: verify RFC 3161 timestamps with cairn verify');
  }
}
