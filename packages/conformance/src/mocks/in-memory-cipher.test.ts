import { createDecipheriv } from 'node:crypto';
import { expect, test } from 'vitest';
import { canonicalJson } from '@cairn/protocol';
import { describeCipher } from '../cipher/describe-cipher.ts';
import { createInMemoryCipher } from './in-memory-cipher.ts';

describeCipher({ name: 'in-memory aes-256-gcm', create: () => createInMemoryCipher() });

test('the in-memory cipher is AES-256-GCM with canonicalJson(context) as AAD: a plain decipher opens it', async () => {
  const key = new Uint8Array(32).fill(7);
  const envelope = await createInMemoryCipher({ key }).encrypt(new TextEncoder().encode('secret'), { scope: 'run:abc', secret: 'TOKEN' });
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64'), { authTagLength: 16 });
  decipher.setAAD(Buffer.from(canonicalJson({ secret: 'TOKEN', scope: 'run:abc' }), 'utf8'));
  decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
  const plaintext = Buffer.concat([decipher.update(Buffer.from(envelope.ciphertext, 'base64')), decipher.final()]);
  expect(plaintext.toString('utf8')).toBe('secret');
});
