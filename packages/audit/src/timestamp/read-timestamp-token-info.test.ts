import { createHash } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { createTestTsa } from './openssl-tsa.test-support.ts';
import { readTimestampTokenInfo } from './read-timestamp-token-info.ts';

const tsa = createTestTsa();
afterAll(() => tsa.close());

test('reads the imprint, nonce, serial, time and policy of an OpenSSL token', () => {
  const data = new TextEncoder().encode('a checkpoint envelope');
  const info = readTimestampTokenInfo(tsa.stamp(data));
  expect(info.hashAlgorithm).toBe('sha256');
  expect(Buffer.from(info.hashedMessage).toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  // `openssl ts -query` adds a random 64-bit nonce by default; the TSA echoes it.
  expect(info.nonce).toBeTypeOf('bigint');
  expect(info.serialNumber).toBeGreaterThan(0n);
  expect(info.policy).toBe('1.2.3.4.1');
  expect(Math.abs(Date.parse(info.time) - Date.now())).toBeLessThan(60_000);
});

test('bytes that are not a token are CAIRN_SIGNATURE_INVALID', () => {
  expect(() => readTimestampTokenInfo(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01))).toThrow(expect.objectContaining({ code: 'CAIRN_SIGNATURE_INVALID' }));
});
