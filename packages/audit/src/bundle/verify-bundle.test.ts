import type { EvidenceBundleV1 } from '@cairn/core';
import { canonicalJson, digestOfJson } from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { signCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { readCheckpoint, serializeEvidenceBundle } from './build-evidence-bundle.ts';
import { createRunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const statuses = (report: Awaited<ReturnType<typeof verifyBundle>>) => Object.fromEntries(report.checks.map((check) => [check.name, check.status]));

describe('verifyBundle on an untouched bundle', () => {
  test('with the trusted key: everything offline passes; without a live anchor the claim stays tamper-detecting', async () => {
    const evidence = await createRunEvidence();
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record] });
    expect(statuses(report)).toEqual({
      entries: 'pass',
      completeness: 'pass',
      inclusion: 'pass',
      'checkpoint-signature': 'pass',
      manifests: 'pass',
      artifacts: 'pass',
      anchor: 'not-checked',
      timestamp: 'not-checked',
      candidates: 'pass',
    });
    expect(report).toMatchObject({ valid: true, claim: 'tamper-detecting' });
  });

  test('read live, a detect anchor still gives tamper-detecting: it never claims more than it checked', async () => {
    const evidence = await createRunEvidence();
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], readAnchor: (receipt) => evidence.anchor.read(receipt) });
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({ status: 'pass' });
    expect(report.claim).toBe('tamper-detecting');
  });

  test('an anchor the verifier declares external-immutable, read live and matching, gives tamper-evident; a receipt declaring it does not', async () => {
    // Stand-in for an S3 Object Lock anchor: the verifier names it and knows its guarantee. The
    // receipt's own declaration (signed by the log key, whose holder an anchor must hold in check)
    // never raises the claim.
    const immutable = await createRunEvidenceWithGuarantee('external-immutable');
    const trustedAnchors = [{ name: 'object-lock:stand-in', guarantee: 'external-immutable' as const, read: immutable.read }];
    const report = await verifyBundle(immutable.bytes, { trustedKeys: [immutable.record], trustedAnchors });
    expect(report).toMatchObject({ valid: true, claim: 'tamper-evident' });
    expect((await verifyBundle(immutable.bytes, { trustedKeys: [immutable.record], readAnchor: immutable.read })).claim).toBe('tamper-detecting');
    // The same bundle verified with only its own key claims less, and says why.
    const selfAsserted = await verifyBundle(immutable.bytes, { trustedAnchors });
    expect(selfAsserted.claim).toBe('tamper-detecting');
    expect(selfAsserted.checks.find((check) => check.name === 'checkpoint-signature')!.detail).toMatch(/taken from the bundle itself/);
  });

  test('pinning the key id gives the same trust as passing the key', async () => {
    const evidence = await createRunEvidence();
    const pinned = await verifyBundle(evidence.bytes, { pinnedKeyIds: [evidence.signer.record.keyId] });
    expect(pinned.checks.find((check) => check.name === 'checkpoint-signature')!.detail).toMatch(/a trusted key/);
    const wrongPin = await verifyBundle(evidence.bytes, { pinnedKeyIds: [createTestSigner().record.keyId] });
    expect(wrongPin.valid).toBe(false);
  });

  test('export is deterministic: the same run gives byte-identical bundles', async () => {
    const evidence = await createRunEvidence();
    expect(Buffer.compare(serializeEvidenceBundle(evidence.rebuild()), evidence.bytes)).toBe(0);
  });

  test('the multiproof of a run is smaller than separate proofs', async () => {
    const evidence = await createRunEvidence({ extraItems: 20 });
    const separate = evidence.bundle.entries.reduce(
      (total, entry) => total + evidence.log.inclusionProof(entry.seq, readCheckpoint(evidence.bundle.checkpoint).treeSize).length,
      0,
    );
    expect(evidence.bundle.inclusionProof.length).toBeLessThan(separate / 10);
    expect((await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record] })).valid).toBe(true);
  });
});

/** Evidence whose signed receipt declares `guarantee`, with a live reader answering it. */
async function createRunEvidenceWithGuarantee(guarantee: 'detect' | 'external-immutable') {
  const evidence = await createRunEvidence();
  const { signReceipt, openReceipt } = await import('../anchor/signed-receipt.ts');
  const receipt = { ...openReceipt(evidence.bundle.anchors[0]!, [evidence.signer.trusted]), guarantee };
  const bundle: EvidenceBundleV1 = { ...evidence.bundle, anchors: [await signReceipt(receipt, evidence.signer.signer)] };
  const read = async () => ({ envelope: Uint8Array.from((await evidence.anchor.read(receipt))!.envelope), receipt });
  return { bytes: serializeEvidenceBundle(bundle), record: evidence.signer.record, read };
}

describe('verifyBundle names what was tampered with', () => {
  async function tampered(
    change: (bundle: EvidenceBundleV1, evidence: Awaited<ReturnType<typeof createRunEvidence>>) => EvidenceBundleV1 | Promise<EvidenceBundleV1>,
    options = {},
  ) {
    const evidence = await createRunEvidence();
    const bundle = await change(structuredClone(evidence.bundle) as EvidenceBundleV1, evidence);
    const report = await verifyBundle(serializeEvidenceBundle(bundle), { trustedKeys: [evidence.signer.record], ...options });
    expect(report.valid).toBe(false);
    expect(report.claim).toBe('tamper-detecting');
    return report.checks.filter((check) => check.status === 'fail').map((check) => check.name);
  }
  const mutable = (bundle: EvidenceBundleV1) =>
    bundle as unknown as { entries: EvidenceBundleV1['entries'][number][]; artifacts: { digest: string }[]; checkpoint: { payloadType: string } };

  test('reordered entries', async () => {
    expect(await tampered((bundle) => ({ ...bundle, entries: [bundle.entries[1]!, bundle.entries[0]!, ...bundle.entries.slice(2)] }))).toContain('entries');
  });

  test('a dropped entry', async () => {
    expect(await tampered((bundle) => ({ ...bundle, entries: bundle.entries.filter((_, index) => index !== 2) }))).toEqual(
      expect.arrayContaining(['completeness', 'inclusion']),
    );
  });

  test('a dropped terminal entry', async () => {
    expect(await tampered((bundle) => ({ ...bundle, entries: bundle.entries.slice(0, -1) }))).toEqual(expect.arrayContaining(['completeness', 'inclusion']));
  });

  test('a duplicated entry', async () => {
    expect(await tampered((bundle) => ({ ...bundle, entries: [...bundle.entries.slice(0, 3), bundle.entries[2]!, ...bundle.entries.slice(3)] }))).toContain(
      'entries',
    );
  });

  test("an entry spliced in from another run's bundle", async () => {
    const other = await createRunEvidence({ runId: 'run-9' });
    expect(
      await tampered((bundle) => ({ ...bundle, entries: [...bundle.entries.slice(0, 2), other.bundle.entries[2]!, ...bundle.entries.slice(3)] })),
    ).toContain('entries');
  });

  test('an edited entry (time changed by a second)', async () => {
    expect(
      await tampered((bundle) => {
        mutable(bundle).entries[1] = { ...bundle.entries[1]!, time: '2026-11-22T10:00:09.000Z' };
        return bundle;
      }),
    ).toEqual(['inclusion']);
  });

  test('swapped artifact digests', async () => {
    expect(
      await tampered((bundle) => {
        const [first, second] = mutable(bundle).artifacts;
        [first!.digest, second!.digest] = [second!.digest, first!.digest];
        return bundle;
      }),
    ).toContain('artifacts');
  });

  test('a changed spec', async () => {
    expect(await tampered((bundle) => ({ ...bundle, spec: { ...bundle.spec, name: 'other' } }))).toContain('completeness');
  });

  test('a checkpoint re-signed with an untrusted key', async () => {
    expect(
      await tampered(async (bundle) => ({ ...bundle, checkpoint: await signCheckpoint(readCheckpoint(bundle.checkpoint), createTestSigner().signer) })),
    ).toEqual(expect.arrayContaining(['checkpoint-signature', 'anchor']));
  });

  test('a changed payloadType', async () => {
    expect(await tampered((bundle) => ({ ...bundle, checkpoint: { ...bundle.checkpoint, payloadType: 'application/vnd.cairn.manifest+json' } }))).toContain(
      'checkpoint-signature',
    );
  });

  test('an older valid checkpoint presented as the newest (rollback)', async () => {
    expect(await tampered((bundle, evidence) => ({ ...bundle, checkpoint: evidence.olderCheckpoint }))).toEqual(
      expect.arrayContaining(['inclusion', 'anchor']),
    );
  });

  test('two checkpoints of one size with different roots (equivocation), known to the verifier', async () => {
    const evidence = await createRunEvidence();
    const checkpoint = readCheckpoint(evidence.bundle.checkpoint);
    const forged = { ...checkpoint, rootHash: digestOfJson('forged').slice(7) };
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], knownCheckpoints: [forged] });
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^equivocation/) });
  });

  test('an anchor that holds another checkpoint of the same size (equivocation, read live)', async () => {
    const evidence = await createRunEvidence();
    const report = await verifyBundle(evidence.bytes, {
      trustedKeys: [evidence.signer.record],
      readAnchor: async (receipt) => {
        const anchored = (await evidence.anchor.read(receipt))!;
        const envelope = JSON.parse(Buffer.from(anchored.envelope).toString('utf8'));
        const forged = await signCheckpoint({ ...readCheckpoint(envelope), rootHash: digestOfJson('x').slice(7) }, evidence.signer.signer);
        return { envelope: new TextEncoder().encode(canonicalJson(forged)), receipt: anchored.receipt };
      },
    });
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/equivocation or tampering/),
    });
  });

  test('an artifact whose content does not match its digest, when contents are fetched', async () => {
    const evidence = await createRunEvidence();
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], readArtifact: async () => new TextEncoder().encode('not it') });
    expect(report.checks.find((check) => check.name === 'artifacts')!.status).toBe('fail');
  });

  test('unreadable input is a failed report, never an exception', async () => {
    for (const input of [new Uint8Array([0xff, 0xfe]), '{', 'null', { format: 'cairn.bundle/v2' }, 42]) {
      const report = await verifyBundle(input);
      expect(report.valid).toBe(false);
      expect(report.checks[0]).toMatchObject({ name: 'entries', status: 'fail' });
    }
  });
});
