// The browser build of the verifier calls src/browser-node/node-crypto.ts where @cairn/audit calls
// node:crypto: for the same keys, messages and signatures it must answer what Node answers —
// including the refusals (a tampered message, another key, a malformed signature or key).
import * as node from 'node:crypto';
import { expect, test } from 'vitest';
import * as browser from '../src/browser-node/node-crypto.ts';

const message = new TextEncoder().encode('cairn checkpoint payload');
const altered = new TextEncoder().encode('cairn checkpoint payloae');
const spki = (key: node.KeyObject) => new Uint8Array(key.export({ format: 'der', type: 'spki' }));

test('SHA-256 as crypto.hash and crypto.createHash give it, for bytes and UTF-8 text', () => {
  for (const input of [new Uint8Array(), message, '\u0000{"é":"ü"}']) {
    expect(Buffer.from(browser.hash('sha256', input, 'buffer') as Uint8Array)).toEqual(node.hash('sha256', input, 'buffer'));
    expect(browser.hash('sha256', input, 'hex')).toBe(node.hash('sha256', input, 'hex'));
    expect(browser.hash('sha256', input, 'binary')).toBe(node.hash('sha256', input, 'binary'));
    expect(browser.createHash('sha256').update(input).digest('hex')).toBe(node.createHash('sha256').update(input).digest('hex'));
  }
  expect(() => browser.hash('sha512', message)).toThrow(/sha256 only/);
  // An encoding the shim does not know is refused, never answered in another one.
  expect(() => browser.hash('sha256', message, 'base64' as 'hex')).toThrow(/not base64/);
});

test('Ed25519 signatures verify as Node verifies them, and tampered ones do not', () => {
  const { privateKey, publicKey } = node.generateKeyPairSync('ed25519');
  const other = node.generateKeyPairSync('ed25519').publicKey;
  const signature = new Uint8Array(node.sign(null, message, privateKey));
  const key = browser.createPublicKey({ key: spki(publicKey), format: 'der', type: 'spki' });
  expect(key.asymmetricKeyType).toBe('ed25519');
  expect(browser.verify(null, message, key, signature)).toBe(true);
  expect(browser.verify(null, altered, key, signature)).toBe(false);
  expect(browser.verify(null, message, browser.createPublicKey({ key: spki(other), format: 'der', type: 'spki' }), signature)).toBe(false);
  const flipped = Uint8Array.from(signature);
  flipped[10]! ^= 1;
  expect(browser.verify(null, message, key, flipped)).toBe(node.verify(null, message, publicKey, flipped));
});

test('ECDSA P-256 DER signatures over SHA-256 verify as Node verifies them', () => {
  const { privateKey, publicKey } = node.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const key = browser.createPublicKey({ key: spki(publicKey), format: 'der', type: 'spki' });
  expect(key).toMatchObject({ asymmetricKeyType: 'ec', asymmetricKeyDetails: { namedCurve: 'prime256v1' } });
  for (let round = 0; round < 8; round++) {
    // Node's signatures are not normalised to low S: half of them are high-S, and must verify.
    const signature = new Uint8Array(node.sign('sha256', message, { key: privateKey, dsaEncoding: 'der' }));
    expect(browser.verify('sha256', message, { key, dsaEncoding: 'der' }, signature)).toBe(true);
    expect(browser.verify('sha256', altered, { key, dsaEncoding: 'der' }, signature)).toBe(false);
  }
});

test('keys other than Ed25519 and P-256 SubjectPublicKeyInfo are refused, and unequal lengths are not compared', () => {
  const rsa = node.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
  expect(() => browser.createPublicKey({ key: spki(rsa), format: 'der', type: 'spki' })).toThrow(/not an Ed25519 or P-256/);
  const secp256k1 = node.generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey;
  expect(() => browser.createPublicKey({ key: spki(secp256k1), format: 'der', type: 'spki' })).toThrow(/not an Ed25519 or P-256/);
  expect(browser.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
  expect(browser.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
  expect(() => browser.timingSafeEqual(Uint8Array.of(1), Uint8Array.of(1, 2))).toThrow(RangeError);
});
