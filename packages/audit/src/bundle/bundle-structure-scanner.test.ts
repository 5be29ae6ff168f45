// What parsing a bundle may build is bounded before JSON.parse runs: each limit refuses the
// bundle (`entries` fails) naming the limit and the JSON path where it was hit, and a bundle Cairn
// writes is within all of them.
import type { EvidenceBundleV1 } from '@cairn/core';
import { canonicalJson } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { readCheckpoint, serializeEvidenceBundle } from './build-evidence-bundle.ts';
import { bundleLimits, resolveBundleLimits } from './bundle-limits.ts';
import { BundleStructureScanner } from './bundle-structure-scanner.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const utf8 = new TextEncoder();

/** The `entries` check of verifying `input` within `limits`, and that nothing else ran. */
async function entriesCheck(input: Uint8Array | string, limits: Parameters<typeof resolveBundleLimits>[0] = {}) {
  const report = await verifyBundle(input, { limits });
  expect(report.verdict).toBe('failed');
  expect(report.checks.filter((check) => check.status !== 'not-checked').map((check) => check.name)).toEqual(['entries']);
  return report.checks[0]!;
}

describe('each limit refuses a bundle over it, naming the limit and where', () => {
  test('nesting deeper than maxDepth', async () => {
    const deep = `{"entries":[${'{"a":'.repeat(100)}0${'}'.repeat(100)}]}`;
    const check = await entriesCheck(deep);
    expect(check.detail).toBe(`the bundle exceeds what a verifier reads: it nests deeper than 64 levels at $.entries[0]${'.a'.repeat(62)} (limit maxDepth)`);
    // Arrays count as much as objects; the limit is the caller's to set.
    expect((await entriesCheck(`{"spec":${'['.repeat(5)}${']'.repeat(5)}}`, { maxDepth: 4 })).detail).toBe(
      'the bundle exceeds what a verifier reads: it nests deeper than 4 levels at $.spec[0][0][0] (limit maxDepth)',
    );
  });

  test('more keys in one object than maxKeysPerObject', async () => {
    const keys = Array.from({ length: bundleLimits.maxKeysPerObject + 1 }, (_, index) => `"k${index}":0`).join(',');
    expect((await entriesCheck(`{"entries":[{"runId":"r"},{${keys}}]}`)).detail).toBe(
      `the bundle exceeds what a verifier reads: the object at $.entries[1] has more than ${bundleLimits.maxKeysPerObject} keys (limit maxKeysPerObject)`,
    );
  });

  test('a string, or a key, longer than maxStringBytes', async () => {
    expect((await entriesCheck('{"spec":{"name":"0123456789"}}', { maxStringBytes: 9 })).detail).toBe(
      'the bundle exceeds what a verifier reads: the string at $.spec.name is longer than 9 bytes (limit maxStringBytes)',
    );
    expect((await entriesCheck('{"spec":{"0123456789":1}}', { maxStringBytes: 9 })).detail).toBe(
      'the bundle exceeds what a verifier reads: a key of the object at $.spec is longer than 9 bytes (limit maxStringBytes)',
    );
  });

  test('more objects and arrays than minBytesPerContainer allows: what JSON.parse would build at ~40 bytes each', async () => {
    // 3 MB of `{}`: a million objects, about 60 MB once parsed.
    const empties = `{"entries":[${Array.from({ length: 1_000_000 }, () => '{}').join(',')}]}`;
    const allowed = 1_024 + Math.floor(empties.length / bundleLimits.minBytesPerContainer);
    expect((await entriesCheck(empties)).detail).toBe(
      `the bundle exceeds what a verifier reads: it holds more than ${allowed} objects and arrays (reached at $.entries[${allowed - 2}]): at most 1024 and one per 32 bytes of its ${empties.length} (limit minBytesPerContainer)`,
    );
  });

  test('bytes, or text, over maxBundleBytes, before anything else', async () => {
    const evidence = await createRunEvidence();
    const limit = evidence.bytes.length - 1;
    const expected = `the bundle exceeds what a verifier reads: it is ${evidence.bytes.length} bytes, more than ${limit} (limit maxBundleBytes)`;
    expect((await entriesCheck(evidence.bytes, { maxBundleBytes: limit })).detail).toBe(expected);
    expect((await entriesCheck(new TextDecoder().decode(evidence.bytes), { maxBundleBytes: limit })).detail).toBe(expected);
    // Text is measured in UTF-8 bytes, not characters.
    expect((await entriesCheck('{"spec":"é"}', { maxBundleBytes: 12 })).detail).toContain('it is 13 bytes, more than 12');
  });

  test('more entries than the tree its checkpoint claims, before they are parsed', async () => {
    const evidence = await createRunEvidence();
    const { treeSize } = readCheckpoint(evidence.bundle.checkpoint);
    const padded: EvidenceBundleV1 = { ...evidence.bundle, entries: Array.from({ length: treeSize + 1 }, () => evidence.bundle.entries[0]!) };
    expect((await entriesCheck(serializeEvidenceBundle(padded))).detail).toBe(
      `$.entries: the bundle holds ${treeSize + 1} entries, more than the ${treeSize} of the tree its checkpoint claims; a bundle's entries are some of that tree's`,
    );
  });

  test('a limit that is not a positive whole number is a setting error, not a verdict', async () => {
    await expect(verifyBundle('{}', { limits: { maxDepth: 0 } })).rejects.toMatchObject({
      code: 'CAIRN_CONFIG_INVALID',
      message: '[cairn] [audit] invalid setting "limits.maxDepth": must be a positive whole number, not 0.',
    });
  });
});

describe('a bundle Cairn writes is within every limit', () => {
  test('a run of 200 items with model calls verifies with the default limits, and would with limits far tighter', async () => {
    const evidence = await createRunEvidence({ extraItems: 200, modelCalls: 3 });
    expect((await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record] })).valid).toBe(true);
    const tight = { maxDepth: 8, maxKeysPerObject: 16, maxStringBytes: 1_024, minBytesPerContainer: 64 };
    expect((await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], limits: tight })).valid).toBe(true);
  });

  test('scanned a piece at a time, across escapes and multi-byte characters split between pieces, it finds what one pass finds', async () => {
    const evidence = await createRunEvidence({ extraItems: 3 });
    const spec = { ...evidence.bundle.spec, description: 'a "quoted" \\ back\\"slash\\\\ é ✓ 🪨 and more' };
    const bytes = utf8.encode(canonicalJson({ ...evidence.bundle, spec }));
    const whole = new BundleStructureScanner(bytes, bundleLimits);
    expect(whole.scan(bytes.length)).toBeUndefined();
    for (const pieceBytes of [1, 2, 3, 7, 64]) {
      const pieces = new BundleStructureScanner(bytes, bundleLimits);
      for (let available = pieceBytes; ; available += pieceBytes) {
        expect(pieces.scan(Math.min(available, bytes.length))).toBeUndefined();
        if (available >= bytes.length) break;
      }
      expect(pieces.result()).toEqual(whole.result());
    }
    expect(whole.result()).toMatchObject({ ok: true, entryCount: evidence.bundle.entries.length });
  });
});
