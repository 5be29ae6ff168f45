import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { CipherContext, CipherEnvelope, CipherV1 } from '@cairn/core';
import { cipherEnvelopeSchema } from '@cairn/protocol';
import { expectBytes, utf8 } from '../harness/bytes.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { expectCairnError } from '../harness/expect-cairn-error.ts';
import { expectSchema } from '../harness/expect-schema.ts';

/** One cipher case. */
export type CipherCase = ConformanceCase<CipherV1, never>;

const decryptFailed = 'CAIRN_CIPHER_DECRYPT_FAILED';
const context: CipherContext = { run: 'run-1', secret: 'github-token', version: '3' };

/** Flips one bit of a base64 field, keeping it valid base64 of the same length. */
function flipBase64(field: string, byte = 0): string {
  const bytes = Buffer.from(field, 'base64');
  bytes[byte % bytes.length]! ^= 0x01;
  return bytes.toString('base64');
}

/** The CipherV1 cases, in registration order; exported for meta-tests. */
export const cipherCases: readonly CipherCase[] = [
  {
    id: 'round-trip',
    title: 'decrypt(encrypt(plaintext, context), context) returns the plaintext',
    async run({ instance }) {
      const plaintext = utf8('ghp_secret value');
      expectBytes(await instance.decrypt(await instance.encrypt(plaintext, context), context), plaintext, 'round trip');
    },
  },
  {
    id: 'context-key-order',
    title: 'the context binds by content, not by key order (it is canonicalised before use)',
    async run({ instance }) {
      const plaintext = utf8('ordered');
      const envelope = await instance.encrypt(plaintext, { a: '1', b: '2', scope: 'run:abc' });
      expectBytes(await instance.decrypt(envelope, { scope: 'run:abc', b: '2', a: '1' }), plaintext, 'decrypt with the keys in another order');
      expectBytes(await instance.decrypt(envelope, { b: '2', scope: 'run:abc', a: '1' }), plaintext, 'decrypt with the keys in a third order');
    },
  },
  {
    id: 'tampered-ciphertext',
    title: `a tampered ciphertext is rejected with ${decryptFailed}`,
    async run({ instance }) {
      const envelope = await instance.encrypt(utf8('do not touch'), context);
      for (const byte of [0, 5, 11]) {
        const tampered: CipherEnvelope = { ...envelope, ciphertext: flipBase64(envelope.ciphertext, byte) };
        await expectCairnError(() => instance.decrypt(tampered, context), decryptFailed, `ciphertext byte ${byte} flipped`);
      }
    },
  },
  {
    id: 'tampered-tag',
    title: `a tampered authentication tag is rejected with ${decryptFailed}`,
    async run({ instance }) {
      const envelope = await instance.encrypt(utf8('do not touch'), context);
      await expectCairnError(() => instance.decrypt({ ...envelope, tag: flipBase64(envelope.tag) }, context), decryptFailed, 'tag flipped');
      const truncated = Buffer.from(envelope.tag, 'base64').subarray(0, 4).toString('base64');
      await expectCairnError(() => instance.decrypt({ ...envelope, tag: truncated }, context), decryptFailed, 'tag truncated to 4 bytes');
    },
  },
  {
    id: 'tampered-iv',
    title: `a tampered IV is rejected with ${decryptFailed}`,
    async run({ instance }) {
      const envelope = await instance.encrypt(utf8('do not touch'), context);
      await expectCairnError(() => instance.decrypt({ ...envelope, iv: flipBase64(envelope.iv) }, context), decryptFailed, 'iv flipped');
    },
  },
  {
    id: 'tampered-encrypted-key',
    title: `an envelope that carries an encryptedKey is rejected with ${decryptFailed} when that key is altered or removed`,
    async run({ instance }) {
      // Only envelope-encrypting ciphers (KMS data keys) set encryptedKey; for the others there is
      // nothing to alter here (json-envelope checks the field's shape).
      const envelope = await instance.encrypt(utf8('wrapped'), context);
      if (envelope.encryptedKey === undefined) return;
      const { encryptedKey: _encryptedKey, ...withoutKey } = envelope;
      await expectCairnError(
        () => instance.decrypt({ ...envelope, encryptedKey: flipBase64(envelope.encryptedKey!) }, context),
        decryptFailed,
        'encryptedKey flipped',
      );
      await expectCairnError(() => instance.decrypt(withoutKey, context), decryptFailed, 'encryptedKey removed');
    },
  },
  {
    id: 'wrong-context',
    title: `a changed, extra or missing context entry is rejected with ${decryptFailed}`,
    async run({ instance }) {
      const envelope = await instance.encrypt(utf8('bound to its context'), context);
      const { version: _version, ...missing } = context;
      const variants: [string, CipherContext][] = [
        ['a changed value', { ...context, version: '4' }],
        ['an extra key', { ...context, extra: '' }],
        ['a missing key', missing],
        ['an empty context', {}],
        ['a value moved to another key', { run: 'run-1', secret: 'github-token3', version: '' }],
      ];
      for (const [what, wrong] of variants) {
        await expectCairnError(() => instance.decrypt(envelope, wrong), decryptFailed, `decrypt with ${what}`);
      }
    },
  },
  {
    id: 'json-envelope',
    title: 'the envelope is a valid CipherEnvelope of plain JSON and decrypts after a JSON round trip; it does not contain the plaintext',
    async run({ instance }) {
      const plaintext = utf8('plain-secret-marker');
      const envelope = await instance.encrypt(plaintext, context);
      expectSchema(cipherEnvelopeSchema, envelope, 'CipherEnvelope', 'the envelope encrypt returned');
      const text = JSON.stringify(envelope);
      const revived = JSON.parse(text) as CipherEnvelope;
      expect(revived).toStrictEqual({ ...envelope });
      expectBytes(await instance.decrypt(revived, context), plaintext, 'decrypt after JSON round trip');
      expect(text).not.toContain('plain-secret-marker');
      expect(text).not.toContain(Buffer.from(plaintext).toString('base64'));
    },
  },
  {
    id: 'fresh-randomness',
    title: 'two encryptions of the same plaintext differ (fresh IV each time)',
    async run({ instance }) {
      const plaintext = utf8('same every time');
      const first = await instance.encrypt(plaintext, context);
      const second = await instance.encrypt(plaintext, context);
      expect(second.iv, 'the IV is fresh').not.toBe(first.iv);
      expect(second.ciphertext, 'the ciphertext differs').not.toBe(first.ciphertext);
    },
  },
  {
    id: 'sizes',
    title: 'an empty plaintext and a 1 MiB plaintext round-trip byte-exact',
    async run({ instance }) {
      expectBytes(await instance.decrypt(await instance.encrypt(new Uint8Array(0), context), context), new Uint8Array(0), 'empty');
      const large = new Uint8Array(randomBytes(1024 * 1024));
      expectBytes(await instance.decrypt(await instance.encrypt(large, context), context), large, '1 MiB');
    },
  },
];
