// Manifests signed by a delegated key (ADR 0020): the bundle carries the delegation statement, and
// the verifier trusts the delegate only through a statement that verifies under a key the caller
// trusts. Neither the statement's presence nor the delegate's record in the bundle is trust.
import type { DsseEnvelope, EvidenceBundleV1 } from '@cairn/core';
import { canonicalJsonBytes } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { signKeyDelegation, keyDelegationPayloadType } from '../checkpoint/key-delegation-envelope.ts';
import { storedManifestSignatures } from '../checkpoint/manifest-batch.ts';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { serializeEvidenceBundle } from './build-evidence-bundle.ts';
import { createRunEvidence, type RunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const check = (report: Awaited<ReturnType<typeof verifyBundle>>, name: string) => report.checks.find((entry) => entry.name === name)!;

async function delegatedEvidence(): Promise<RunEvidence & { delegate: NonNullable<RunEvidence['delegate']>; delegation: DsseEnvelope }> {
  const evidence = await createRunEvidence({ delegate: true, extraItems: 2 });
  return evidence as RunEvidence & { delegate: NonNullable<RunEvidence['delegate']>; delegation: DsseEnvelope };
}

const withDelegations = (bundle: EvidenceBundleV1, delegations: DsseEnvelope[] | undefined): EvidenceBundleV1 => {
  const { delegations: _dropped, ...rest } = bundle;
  return delegations === undefined ? rest : { ...rest, delegations };
};

describe('a run whose manifests a delegated key signed', () => {
  test('verifies with only the checkpoint key trusted, with the same claim as a run signed directly, and exports deterministically', async () => {
    const evidence = await delegatedEvidence();
    expect(evidence.bundle.delegations).toEqual([evidence.delegation]);
    // The delegate's key is not among the keys: it travels in its statement only.
    expect(evidence.bundle.keys.map((key) => key.keyId)).toEqual([evidence.signer.record.keyId]);
    expect(evidence.bundle.manifests.every((manifest) => storedManifestSignatures(manifest.envelope)[0]!.keyid === evidence.delegate.record.keyId)).toBe(true);
    const readAnchor = { readAnchor: (reference: Parameters<typeof evidence.anchor.read>[0]) => evidence.anchor.read(reference) };
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], ...readAnchor });
    const direct = await createRunEvidence({ extraItems: 2 });
    const directReport = await verifyBundle(direct.bytes, {
      trustedKeys: [direct.signer.record],
      readAnchor: (reference) => direct.anchor.read(reference as Parameters<typeof direct.anchor.read>[0]),
    });
    expect(report).toMatchObject({ valid: true, verdict: 'verified', claim: directReport.claim });
    expect(check(report, 'manifests')).toMatchObject({
      status: 'pass',
      detail: expect.stringMatching(/3 signed manifests.*1 delegated key vouched for by a trusted key/),
    });
    expect(serializeEvidenceBundle(evidence.rebuild())).toEqual(evidence.bytes);
  });

  test('without a trusted key the statement is checked against the bundle key only: untrusted-signer, never verified', async () => {
    const evidence = await delegatedEvidence();
    const report = await verifyBundle(evidence.bytes);
    expect(report).toMatchObject({ valid: false, verdict: 'untrusted-signer' });
    expect(check(report, 'manifests').status).toBe('pass');
  });
});

describe('each forgery fails the manifests check, named', () => {
  test('a statement signed by a fresh key (claiming itself as the delegator) fails at $.delegations[0]', async () => {
    const evidence = await delegatedEvidence();
    const fresh = createTestSigner();
    const forged = await signKeyDelegation(
      { delegate: evidence.delegate.record, purpose: 'dispatch-manifest', delegatedBy: fresh.record.keyId, issuedAt: '2026-11-22T10:00:00.000Z' },
      fresh.signer,
    );
    const report = await verifyBundle(withDelegations(evidence.bundle, [forged]), { trustedKeys: [evidence.signer.record] });
    expect(report).toMatchObject({ valid: false, verdict: 'failed' });
    expect(check(report, 'manifests')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^\$\.delegations\[0\]: .*No signature of the envelope is by a trusted key/),
    });
  });

  test('a statement naming the trusted key as its delegator but signed by a fresh key under that key id fails at $.delegations[0]', async () => {
    const evidence = await delegatedEvidence();
    const fresh = createTestSigner();
    const impostor = { ...fresh.signer, keyId: async () => evidence.signer.record.keyId };
    const forged = await signKeyDelegation(
      { delegate: evidence.delegate.record, purpose: 'dispatch-manifest', delegatedBy: evidence.signer.record.keyId, issuedAt: '2026-11-22T10:00:00.000Z' },
      impostor,
    );
    const report = await verifyBundle(withDelegations(evidence.bundle, [forged]), { trustedKeys: [evidence.signer.record] });
    expect(check(report, 'manifests')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^\$\.delegations\[0\]: .*No signature of the envelope verifies with the trusted key it names/),
    });
  });

  test('a statement signed by the trusted key for another purpose fails at $.delegations[0]', async () => {
    const evidence = await delegatedEvidence();
    const payload = {
      delegate: evidence.delegate.record,
      purpose: 'checkpoint',
      delegatedBy: evidence.signer.record.keyId,
      issuedAt: '2026-11-22T10:00:00.000Z',
    };
    const otherPurpose = await signEnvelope(keyDelegationPayloadType, canonicalJsonBytes(payload), evidence.signer.signer);
    const report = await verifyBundle(withDelegations(evidence.bundle, [otherPurpose]), { trustedKeys: [evidence.signer.record] });
    expect(check(report, 'manifests')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\$\.delegations\[0\]: .*purpose.*dispatch-manifest/) });
  });

  test('a statement of another payload type (a checkpoint envelope) fails at $.delegations[0]', async () => {
    const evidence = await delegatedEvidence();
    const report = await verifyBundle(withDelegations(evidence.bundle, [evidence.bundle.checkpoint]), { trustedKeys: [evidence.signer.record] });
    expect(check(report, 'manifests')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\$\.delegations\[0\]: .*payloadType/) });
  });

  test('manifests signed by a key with no statement fail at $.manifests[0], even with the delegate record in $.keys', async () => {
    const evidence = await delegatedEvidence();
    const stripped = withDelegations(evidence.bundle, undefined);
    const report = await verifyBundle(stripped, { trustedKeys: [evidence.signer.record] });
    expect(check(report, 'manifests')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(new RegExp(`^\\$\\.manifests\\[0\\]\\.envelope: signed by ${evidence.delegate.record.keyId}, which is not trusted`)),
    });
    // The delegate's record in the bundle's keys is not trust either: only the caller's keys are.
    const keyed = { ...stripped, keys: [...stripped.keys, evidence.delegate.record].sort((a, b) => (a.keyId < b.keyId ? -1 : 1)) };
    const keyedReport = await verifyBundle(keyed, { trustedKeys: [evidence.signer.record] });
    expect(check(keyedReport, 'manifests')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\$\.manifests\[0\]\.envelope: signed by/) });
  });

  test('a genuine statement for another key does not vouch for the manifests: $.manifests[0] fails', async () => {
    const evidence = await delegatedEvidence();
    const other = createTestSigner();
    const elsewhere = await signKeyDelegation(
      { delegate: other.record, purpose: 'dispatch-manifest', delegatedBy: evidence.signer.record.keyId, issuedAt: '2026-11-22T10:00:00.000Z' },
      evidence.signer.signer,
    );
    const report = await verifyBundle(withDelegations(evidence.bundle, [elsewhere]), { trustedKeys: [evidence.signer.record] });
    expect(check(report, 'manifests')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\$\.manifests\[0\]\.envelope: signed by/) });
  });

  test('a repeated statement, and an unused one, fail at their $.delegations position', async () => {
    const evidence = await delegatedEvidence();
    const repeated = await verifyBundle(withDelegations(evidence.bundle, [evidence.delegation, evidence.delegation]), {
      trustedKeys: [evidence.signer.record],
    });
    expect(check(repeated, 'manifests')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^\$\.delegations\[1\]: .*out of order or repeated/) });
    const direct = await createRunEvidence();
    const unused = await verifyBundle(
      withDelegations(direct.bundle, [
        await signKeyDelegation(
          { delegate: createTestSigner().record, purpose: 'dispatch-manifest', delegatedBy: direct.signer.record.keyId, issuedAt: '2026-11-22T10:00:00.000Z' },
          direct.signer.signer,
        ),
      ]),
      { trustedKeys: [direct.signer.record] },
    );
    expect(check(unused, 'manifests')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^\$\.delegations\[0\]: no manifest of the bundle is signed by/),
    });
  });
});
