import { generateKeyPairSync, verify } from 'node:crypto';
import { expect, test } from 'vitest';
import { batchedKeySigning } from './batched-key-signing.ts';

const messages = (count: number) => Array.from({ length: count }, (_, index) => new TextEncoder().encode(`message ${index}`));

test('one signature alone and twenty asked for together all verify, each for its own message (Ed25519)', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const sign = batchedKeySigning(privateKey, { algorithm: null });
  const [alone] = messages(1);
  expect(verify(null, alone!, publicKey, await sign(alone!))).toBe(true);
  const together = messages(20);
  const signatures = await Promise.all(together.map((message) => sign(message)));
  together.forEach((message, index) => expect(verify(null, message, publicKey, signatures[index]!)).toBe(true));
  // Deterministic Ed25519: the batch gave each message the signature it has alone.
  expect(signatures[3]).toEqual(await sign(together[3]!));
  expect(verify(null, together[4]!, publicKey, signatures[3]!)).toBe(false);
});

test('ECDSA P-256 with DER signatures, alone and together', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const sign = batchedKeySigning(privateKey, { algorithm: 'sha256', dsaEncoding: 'der' });
  const together = messages(5);
  const signatures = await Promise.all([sign(together[0]!), ...together.slice(1).map((message) => sign(message))]);
  together.forEach((message, index) => expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signatures[index]!)).toBe(true));
  expect(verify('sha256', together[0]!, { key: publicKey, dsaEncoding: 'der' }, await sign(together[0]!))).toBe(true);
});

test('a message node:crypto refuses fails its own signature only, alone or in a batch', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const sign = batchedKeySigning(privateKey, { algorithm: null });
  const notBytes = 42 as unknown as Uint8Array;
  await expect(sign(notBytes)).rejects.toThrow();
  const [good] = messages(1);
  const outcomes = await Promise.allSettled([sign(good!), sign(notBytes)]);
  expect(outcomes[0]).toMatchObject({ status: 'fulfilled' });
  expect(verify(null, good!, publicKey, (outcomes[0] as PromiseFulfilledResult<Uint8Array>).value)).toBe(true);
  expect(outcomes[1]).toMatchObject({ status: 'rejected' });
});
