import { afterAll, describe, expect, test } from 'vitest';
import { anchorEnvelopeBytes } from '../anchor/signed-receipt.ts';
import { createTestTsa, opensslAvailable } from '../timestamp/openssl-tsa.test-support.ts';
import { encodeBase64 } from '../dsse/base64.ts';
import { serializeEvidenceBundle } from './build-evidence-bundle.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

describe.skipIf(!opensslAvailable())('bundles with an RFC 3161 token (OpenSSL TSA)', () => {
  const tsa = createTestTsa();
  afterAll(() => tsa.close());

  async function stampedBundle() {
    const evidence = await createRunEvidence();
    const token = tsa.stamp(anchorEnvelopeBytes(evidence.bundle.checkpoint));
    return { evidence, bytes: serializeEvidenceBundle({ ...evidence.bundle, timestamp: { token: encodeBase64(token) } }) };
  }

  test('a token verified against the trusted TSA certificate makes the claim witnessed', async () => {
    const { evidence, bytes } = await stampedBundle();
    const report = await verifyBundle(bytes, { trustedKeys: [evidence.signer.record], trustedTsaCertificates: [tsa.certificate] });
    expect(report.checks.find((check) => check.name === 'timestamp')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/Cairn Test TSA/) });
    expect(report).toMatchObject({ valid: true, claim: 'witnessed' });
  });

  test('without a trusted TSA certificate, or with keys from the bundle only, it is not claimed', async () => {
    const { evidence, bytes } = await stampedBundle();
    const unchecked = await verifyBundle(bytes, { trustedKeys: [evidence.signer.record] });
    expect(unchecked.checks.find((check) => check.name === 'timestamp')!.status).toBe('not-checked');
    expect(unchecked.claim).toBe('tamper-detecting');
    expect((await verifyBundle(bytes, { trustedTsaCertificates: [tsa.certificate] })).claim).toBe('tamper-detecting');
  });

  test('a token over another checkpoint, or from an untrusted TSA, fails the timestamp check', async () => {
    const { evidence } = await stampedBundle();
    const otherToken = tsa.stamp(new TextEncoder().encode('another checkpoint'));
    const report = await verifyBundle(serializeEvidenceBundle({ ...evidence.bundle, timestamp: { token: encodeBase64(otherToken) } }), {
      trustedKeys: [evidence.signer.record],
      trustedTsaCertificates: [tsa.certificate],
    });
    expect(report.checks.find((check) => check.name === 'timestamp')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/message imprint mismatch/),
    });
    expect(report).toMatchObject({ valid: false, claim: 'tamper-detecting' });
    const stranger = createTestTsa();
    try {
      const stamped = await stampedBundle();
      const untrusted = await verifyBundle(stamped.bytes, { trustedKeys: [stamped.evidence.signer.record], trustedTsaCertificates: [stranger.certificate] });
      expect(untrusted.checks.filter((check) => check.status === 'fail').map((check) => check.name)).toEqual(['timestamp']);
    } finally {
      stranger.close();
    }
  });
});
