// What a verdict rests on: the keys and anchors the caller trusts, never what the bundle says
// about itself. Forgeries by a fresh key are never `verified`; a key holder's rewrite is caught by
// an anchor the caller names; and a receipt's declared guarantee never raises the claim.
import type { AnchorReceipt, CheckpointReference, EvidenceBundleV1 } from '@cairn/core';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { describe, expect, test } from 'vitest';
import { anchorEnvelopeBytes, signReceipt } from '../anchor/signed-receipt.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { readCheckpoint, serializeEvidenceBundle } from './build-evidence-bundle.ts';
import { forgeBundle, rewritePatchDigest, type Forgery } from './forge-bundle.test-support.ts';
import { createRunEvidence, type RunEvidence } from './run-evidence.test-support.ts';
import { verificationCheckNames, verifyBundle } from './verify-bundle.ts';

const statuses = (report: Awaited<ReturnType<typeof verifyBundle>>) => Object.fromEntries(report.checks.map((check) => [check.name, check.status]));

/** The six forgeries of the outside battery, each signed by a fresh key put in the bundle. */
async function sixForgeries(evidence: RunEvidence): Promise<Record<string, EvidenceBundleV1>> {
  const fresh = createTestSigner();
  const base: Omit<Forgery, 'receipts'> = { signer: fresh.signer, record: fresh.record };
  // By default the bundle's receipt is re-signed for the new checkpoint, as it declared itself.
  const resigned: Forgery['receipts'] = (checkpoint, previous) => ({ ...previous!, ...checkpoint });
  const forge = (forgery: Partial<Forgery>) => forgeBundle(evidence.bundle, [evidence.signer.record], { ...base, receipts: resigned, ...forgery });
  const immutableReceipt: Forgery['receipts'] = (checkpoint, previous) => ({ ...previous!, ...checkpoint, guarantee: 'external-immutable' });
  return {
    'checkpoint re-signed': await forge({ keepKeys: true }),
    'manifests re-signed': await forge({ resignManifests: true }),
    'history rewritten and root recomputed': await forge({ resignManifests: true, editEntries: rewritePatchDigest }),
    'receipt re-signed': await forge({ resignManifests: true, receipts: immutableReceipt }),
    'receipts stripped': await forge({ resignManifests: true, receipts: 'strip' }),
    'rewritten, receipt re-signed as external-immutable': await forge({ resignManifests: true, editEntries: rewritePatchDigest, receipts: immutableReceipt }),
  };
}

describe('without a key the caller trusts, nothing is verified', () => {
  test('an untouched bundle is self-consistent but its signer is not trusted: valid false, verdict untrusted-signer, every check reported', async () => {
    const evidence = await createRunEvidence();
    const report = await verifyBundle(evidence.bytes);
    expect(report).toMatchObject({ valid: false, verdict: 'untrusted-signer', claim: 'tamper-detecting' });
    expect(report.checks.map((check) => check.name)).toEqual(verificationCheckNames);
    expect(statuses(report)).toMatchObject({
      entries: 'pass',
      completeness: 'pass',
      inclusion: 'pass',
      'checkpoint-signature': 'pass',
      manifests: 'pass',
      artifacts: 'pass',
    });
    expect(report.checks.find((check) => check.name === 'checkpoint-signature')!.detail).toMatch(/not trusted/);
    // With the key, the same bytes are verified.
    expect(await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record] })).toMatchObject({ valid: true, verdict: 'verified' });
  });

  test('six forgeries signed with a fresh key: never valid without a trusted key, and failed with the real one', async () => {
    const evidence = await createRunEvidence();
    const forgeries = await sixForgeries(evidence);
    expect(Object.keys(forgeries)).toHaveLength(6);
    for (const [name, bundle] of Object.entries(forgeries)) {
      const bytes = serializeEvidenceBundle(bundle);
      const untrusted = await verifyBundle(bytes, { readAnchor: (reference) => evidence.anchor.read(reference as AnchorReceipt) });
      expect({ name, valid: untrusted.valid, claim: untrusted.claim }).toEqual({ name, valid: false, claim: 'tamper-detecting' });
      expect([name, untrusted.verdict]).toEqual([name, expect.stringMatching(/^(untrusted-signer|failed)$/)]);
      expect([name, untrusted.checks.map((check) => check.name)]).toEqual([name, verificationCheckNames]);
      const trusted = await verifyBundle(bytes, { trustedKeys: [evidence.signer.record] });
      expect([name, trusted.valid, trusted.verdict]).toEqual([name, false, 'failed']);
      expect([name, statuses(trusted)['checkpoint-signature']]).toEqual([name, 'fail']);
    }
    // Offline, with no anchor to contradict them, the forgeries are self-consistent: the verdict
    // says whose key is missing, not that a check failed.
    for (const [name, bundle] of Object.entries(forgeries)) {
      const offline = await verifyBundle(serializeEvidenceBundle(bundle));
      expect([name, offline.verdict, offline.checks.filter((check) => check.status === 'fail')]).toEqual([name, 'untrusted-signer', []]);
    }
  });
});

/** A key holder's rewrite: the real key re-signs the history, the checkpoint and (optionally) a receipt. */
async function keyHolderRewrite(evidence: RunEvidence, receipts: Forgery['receipts']) {
  return forgeBundle(evidence.bundle, [evidence.signer.record], {
    signer: evidence.signer.signer,
    record: evidence.signer.record,
    resignManifests: false,
    editEntries: rewritePatchDigest,
    receipts,
  });
}

describe("an anchor's guarantee is the verifier's knowledge, never the bundle's", () => {
  test('a receipt declaring external-immutable, re-signed by the real key, over a copied anchor holding the rewrite: never tamper-evident', async () => {
    const evidence = await createRunEvidence();
    let declared: AnchorReceipt | undefined;
    const forged = await keyHolderRewrite(
      evidence,
      (checkpoint, previous) =>
        (declared = { ...previous!, ...checkpoint, anchor: 'file', guarantee: 'external-immutable', location: 'copied-anchor/forged.dsse' }),
    );
    const checkpoint = readCheckpoint(forged.checkpoint);
    const bytes = serializeEvidenceBundle(forged);
    // The forger anchors the rewritten checkpoint in an anchor of their own (the copied folder).
    const fresh = createInMemoryAuditAnchor();
    await fresh.anchor({
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelope: anchorEnvelopeBytes(forged.checkpoint),
    });
    // The copy answers with the receipt the forger wrote into it, external-immutable and all.
    const readCopy = async (reference: CheckpointReference) => {
      const anchored = await fresh.read(reference);
      return anchored && { envelope: anchored.envelope, receipt: declared! };
    };
    // Following the bundle's own receipt to the forger's copy: everything passes, but the copy is
    // read through the legacy reader, whose guarantee is `detect`.
    const followed = await verifyBundle(bytes, { trustedKeys: [evidence.signer.record], readAnchor: readCopy });
    expect(followed.claim).toBe('tamper-detecting');
    // Named by the caller as a `detect` anchor: the same.
    const named = await verifyBundle(bytes, {
      trustedKeys: [evidence.signer.record],
      trustedAnchors: [{ name: 'file:copied-anchor', guarantee: 'detect', read: readCopy }],
    });
    expect(named).toMatchObject({ valid: true, claim: 'tamper-detecting' });
    // The server's real anchor holds the genuine checkpoint at that size: the rewrite fails.
    const real = await verifyBundle(bytes, {
      trustedKeys: [evidence.signer.record],
      trustedAnchors: [{ name: 'file:real-anchor', guarantee: 'detect', read: (reference) => evidence.anchor.read(reference) }],
    });
    expect(real).toMatchObject({ valid: false, verdict: 'failed' });
    expect(real.checks.find((check) => check.name === 'anchor')).toMatchObject({ status: 'fail', detail: expect.stringContaining('file:real-anchor') });
  });

  test('only an anchor the caller declares external-immutable, read live, gives tamper-evident', async () => {
    const evidence = await createRunEvidence();
    const read = (reference: CheckpointReference) => evidence.anchor.read(reference);
    expect(
      await verifyBundle(evidence.bytes, {
        trustedKeys: [evidence.signer.record],
        trustedAnchors: [{ name: 'object-lock', guarantee: 'external-immutable', read }],
      }),
    ).toMatchObject({ valid: true, verdict: 'verified', claim: 'tamper-evident' });
    expect(
      await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], trustedAnchors: [{ name: 'file:x', guarantee: 'detect', read }] }),
    ).toMatchObject({ valid: true, claim: 'tamper-detecting' });
    // Two trusted anchors: each must hold it, and the weaker one does not lower the stronger's claim.
    const empty = createInMemoryAuditAnchor();
    const both = await verifyBundle(evidence.bytes, {
      trustedKeys: [evidence.signer.record],
      trustedAnchors: [
        { name: 'object-lock', guarantee: 'external-immutable', read },
        { name: 'file:empty', guarantee: 'detect', read: (reference) => empty.read(reference) },
      ],
    });
    expect(both.checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('file:empty holds no checkpoint'),
    });
  });
});

describe('a trusted anchor is read for the checkpoint itself, whatever receipts the bundle carries', () => {
  test("a key holder's rewrite with its receipts stripped fails against the trusted anchor, naming it and what was missing", async () => {
    const evidence = await createRunEvidence();
    const stripped = serializeEvidenceBundle(await keyHolderRewrite(evidence, 'strip'));
    const legacy = await verifyBundle(stripped, {
      trustedKeys: [evidence.signer.record],
      readAnchor: (reference) => evidence.anchor.read(reference as AnchorReceipt),
    });
    expect(legacy).toMatchObject({ valid: false, verdict: 'failed' });
    const report = await verifyBundle(stripped, {
      trustedKeys: [evidence.signer.record],
      trustedAnchors: [{ name: 'file:/srv/cairn/anchor', guarantee: 'detect', read: (reference) => evidence.anchor.read(reference) }],
    });
    expect(report).toMatchObject({ valid: false, verdict: 'failed', claim: 'tamper-detecting' });
    const checkpoint = readCheckpoint(JSON.parse(Buffer.from(stripped).toString('utf8')).checkpoint);
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(
        new RegExp(`file:/srv/cairn/anchor holds no checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize} with root ${checkpoint.rootHash}`),
      ),
    });
  });

  test('a genuine bundle with its receipts stripped still passes when the trusted anchor holds its checkpoint', async () => {
    const evidence = await createRunEvidence();
    const stripped = serializeEvidenceBundle({ ...evidence.bundle, anchors: [] });
    const report = await verifyBundle(stripped, {
      trustedKeys: [evidence.signer.record],
      trustedAnchors: [{ name: 'file:anchor', guarantee: 'detect', read: (reference) => evidence.anchor.read(reference) }],
    });
    expect(report).toMatchObject({ valid: true, verdict: 'verified' });
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({ status: 'pass' });
  });

  test('a bundle exported while its checkpoint was queued (no receipt) fails online until that same checkpoint is anchored, then passes unchanged', async () => {
    const evidence = await createRunEvidence();
    const queued = serializeEvidenceBundle({ ...evidence.bundle, anchors: [] });
    const anchor = createInMemoryAuditAnchor();
    const trustedAnchors = [{ name: 'file:anchor', guarantee: 'detect' as const, read: (reference: CheckpointReference) => anchor.read(reference) }];
    const before = await verifyBundle(queued, { trustedKeys: [evidence.signer.record], trustedAnchors });
    expect(before.checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('not anchored there (yet'),
    });
    const checkpoint = readCheckpoint(evidence.bundle.checkpoint);
    await anchor.anchor({
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelope: anchorEnvelopeBytes(evidence.bundle.checkpoint),
    });
    expect(await verifyBundle(queued, { trustedKeys: [evidence.signer.record], trustedAnchors })).toMatchObject({ valid: true, verdict: 'verified' });
  });
});

describe("a trusted anchor that recognises the bundle's receipts as its own confirms each one", () => {
  /** The in-memory anchor as a trusted anchor that, like the S3 one, checks a receipt of its own against what it holds. */
  function receiptCheckingAnchor(evidence: RunEvidence, seen: (AnchorReceipt | undefined)[]) {
    return {
      name: 'in-memory:anchor',
      guarantee: 'external-immutable' as const,
      isOwnReceipt: (receipt: AnchorReceipt) => receipt.anchor === evidence.anchor.provider && receipt.location.startsWith('cairn%3Atest/'),
      read: async (reference: CheckpointReference, receipt?: AnchorReceipt) => {
        seen.push(receipt);
        const anchored = await evidence.anchor.read(reference);
        if (receipt !== undefined && anchored !== null && receipt.location !== anchored.receipt.location) {
          throw new Error(`the receipt names ${receipt.location}, which this anchor does not hold`);
        }
        return anchored;
      },
    };
  }

  test('the receipt is handed to read, and the genuine bundle is tamper-evident', async () => {
    const evidence = await createRunEvidence();
    const seen: (AnchorReceipt | undefined)[] = [];
    const report = await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], trustedAnchors: [receiptCheckingAnchor(evidence, seen)] });
    expect(report).toMatchObject({ valid: true, verdict: 'verified', claim: 'tamper-evident' });
    const checkpoint = readCheckpoint(evidence.bundle.checkpoint);
    const anchored = await evidence.anchor.read({ origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash });
    expect(seen).toEqual([anchored!.receipt]);
  });

  test("a receipt re-signed with another location fails the anchor check, naming the receipt's location and the anchor's finding", async () => {
    const evidence = await createRunEvidence();
    const checkpoint = readCheckpoint(evidence.bundle.checkpoint);
    const anchored = await evidence.anchor.read({ origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash });
    const swapped: AnchorReceipt = { ...anchored!.receipt, location: `${anchored!.receipt.location}?versionId=swapped` };
    const bundle = serializeEvidenceBundle({ ...evidence.bundle, anchors: [await signReceipt(swapped, evidence.signer.signer)] });
    const seen: (AnchorReceipt | undefined)[] = [];
    const report = await verifyBundle(bundle, { trustedKeys: [evidence.signer.record], trustedAnchors: [receiptCheckingAnchor(evidence, seen)] });
    expect(report).toMatchObject({ valid: false, verdict: 'failed', claim: 'tamper-detecting' });
    expect(report.checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(
        `in-memory:anchor: reading the checkpoint of ${checkpoint.origin} at tree size ${checkpoint.treeSize} named by the receipt ${swapped.location} failed: the receipt names`,
      ),
    });
  });

  test('a receipt the anchor does not call its own, or an anchor without isOwnReceipt, is read by tree head alone', async () => {
    const evidence = await createRunEvidence();
    const seen: (AnchorReceipt | undefined)[] = [];
    const anchor = receiptCheckingAnchor(evidence, seen);
    const foreign = { ...anchor, isOwnReceipt: () => false };
    const { isOwnReceipt: _none, ...plain } = anchor;
    for (const trusted of [foreign, plain]) {
      expect(await verifyBundle(evidence.bytes, { trustedKeys: [evidence.signer.record], trustedAnchors: [trusted] })).toMatchObject({
        valid: true,
        claim: 'tamper-evident',
      });
    }
    expect(seen).toEqual([undefined, undefined]);
  });
});
