import { afterAll, describe, expect, test } from 'vitest';
import { createTestTsa, opensslAvailable } from './openssl-tsa.test-support.ts';
import { children, readElement } from '@cairn/protocol';
import { verifyTimestampToken } from './verify-timestamp-token.ts';

/** Offsets of the TSTInfo, the signed attributes and the signature inside a token. */
function signedOffsets(token: Uint8Array): number[] {
  const signedData = children(children(children(readElement(token))[1]!)[0]!);
  const tstInfo = children(children(signedData[2]!)[1]!)[0]!.content;
  const signerInfo = children(children(signedData.at(-1)!)[0]!);
  const ranges = [tstInfo, signerInfo[3]!.bytes, signerInfo[5]!.content];
  return ranges.flatMap((range) => Array.from({ length: range.length }, (_, index) => range.byteOffset - token.byteOffset + index));
}

const data = new TextEncoder().encode('{"payload":"...","payloadType":"application/vnd.cairn.checkpoint+json","signatures":[]}');

describe.skipIf(!opensslAvailable()).each(['ec', 'rsa'] as const)('RFC 3161 tokens from OpenSSL (%s TSA)', (keyType) => {
  const tsa = createTestTsa(keyType);
  afterAll(() => tsa.close());

  test('a token over the data verifies with the trusted TSA certificate, giving its time', () => {
    const before = Date.now() - 2_000;
    const verified = verifyTimestampToken(tsa.stamp(data), data, [tsa.certificate]);
    expect(verified.authority).toMatch(/Cairn Test TSA/);
    expect(Date.parse(verified.time)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(verified.time)).toBeLessThanOrEqual(Date.now() + 2_000);
  });

  test('other data, an untrusted or non-stamping certificate, and any flipped byte of what the TSA signed are refused', () => {
    const token = tsa.stamp(data);
    expect(() => verifyTimestampToken(token, new TextEncoder().encode('other'), [tsa.certificate])).toThrow(/message imprint mismatch/);
    const stranger = createTestTsa(keyType);
    try {
      expect(() => verifyTimestampToken(token, data, [stranger.certificate])).toThrow(/no trusted TSA certificate/);
    } finally {
      stranger.close();
    }
    expect(() => verifyTimestampToken(token, data, [tsa.certificateWithoutTimestamping])).toThrow(/not allowed to timestamp/);
    // CMS signs the TSTInfo (through the messageDigest attribute), the signed attributes and, by
    // the signature, nothing else: embedded certificates and algorithm lists are unsigned. Every
    // byte of the signed parts and of the signature must matter.
    const undetected: number[] = [];
    for (const offset of signedOffsets(token)) {
      const tampered = Uint8Array.from(token);
      tampered[offset]! ^= 0x01;
      try {
        verifyTimestampToken(tampered, data, [tsa.certificate]);
        undetected.push(offset);
      } catch (error) {
        expect((error as { code?: string }).code).toBe('CAIRN_SIGNATURE_INVALID');
      }
    }
    expect(undetected).toEqual([]);
  });
});
