import { describe, expect, test } from 'vitest';
import { assertDigest, digestOfJson, isCairnError, isDigest, parseDigest, sha256Digest } from '../index.ts';

describe('digests', () => {
  test('sha256 of bytes, as sha256:<hex>', () => {
    expect(sha256Digest(new Uint8Array())).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Digest('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  test('digestOfJson does not depend on member order', () => {
    expect(digestOfJson({ a: 1, b: [true] })).toBe(digestOfJson({ b: [true], a: 1 }));
    expect(digestOfJson({ a: 1 })).not.toBe(digestOfJson({ a: 2 }));
  });

  test('parseDigest accepts only sha256 and 64 lowercase hex digits', () => {
    const good = sha256Digest('x');
    expect(parseDigest(good)).toBe(good);
    expect(isDigest(good.toUpperCase())).toBe(false);
    for (const bad of ['', 'sha256:', `sha512:${'0'.repeat(64)}`, `sha256:${'0'.repeat(63)}`, 42, null]) {
      expect(() => parseDigest(bad, '$.workspace.snapshot')).toThrow(/\$\.workspace\.snapshot must be sha256/);
    }
  });

  test('assertDigest names both digests on a mismatch', () => {
    const bytes = new TextEncoder().encode('patch');
    expect(() => assertDigest(bytes, sha256Digest(bytes), 'patch')).not.toThrow();
    try {
      assertDigest(bytes, sha256Digest('other'), 'patch');
      expect.unreachable();
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_DIGEST_MISMATCH')).toBe(true);
    }
  });
});
