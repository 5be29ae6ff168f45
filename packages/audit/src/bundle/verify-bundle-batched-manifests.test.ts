// A run whose manifests were signed as one dispatch pass (ADR 0026): each manifest in the bundle
// carries its batch's envelope and its inclusion proof. Such a bundle verifies as one whose
// manifests were signed alone, directly or through a delegated key; a manifest moved to another
// leaf of its batch, or with a proof edited, is refused by the manifests check even when every
// digest naming it is rewritten to match.
import type { BatchedManifest, EvidenceBundleV1 } from '@cairn/core';
import { canonicalJsonBytes, digestOfJson } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { isBatched } from '../checkpoint/manifest-batch.ts';
import { createRunEvidence, type RunEvidence } from './run-evidence.test-support.ts';
import { verifyBundle } from './verify-bundle.ts';

const verify = (evidence: RunEvidence, bundle: EvidenceBundleV1 | Uint8Array = evidence.bytes) =>
  verifyBundle(bundle, {
    trustedKeys: [evidence.signer.record],
    readAnchor: (reference) => evidence.anchor.read(reference as Parameters<typeof evidence.anchor.read>[0]),
  });

test('a run whose manifests were signed as one pass verifies, signed directly or by a delegated key', async () => {
  for (const delegate of [false, true]) {
    const evidence = await createRunEvidence({ extraItems: 3, batchManifests: true, delegate });
    expect(evidence.bundle.manifests).toHaveLength(4);
    expect(evidence.bundle.manifests.every(({ envelope }) => isBatched(envelope))).toBe(true);
    const report = await verify(evidence);
    expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true, verdict: 'verified' });
  }
});

test('a batched manifest moved to another leaf, or with a proof hash edited, fails the manifests check though every digest naming it was rewritten', async () => {
  const evidence = await createRunEvidence({ extraItems: 3, batchManifests: true });
  const edits: [string, (manifest: BatchedManifest) => BatchedManifest][] = [
    ['another leaf', (manifest) => ({ ...manifest, index: (manifest.index + 1) % 4 })],
    ['a proof hash', (manifest) => ({ ...manifest, proof: [...manifest.proof].reverse() })],
  ];
  for (const [what, edit] of edits) {
    const [first, ...rest] = evidence.bundle.manifests;
    const edited = edit(first!.envelope as BatchedManifest);
    const digest = digestOfJson(edited);
    const bundle: EvidenceBundleV1 = {
      ...evidence.bundle,
      manifests: [{ digest, envelope: edited }, ...rest].sort((a, b) => (a.digest < b.digest ? -1 : 1)),
      entries: evidence.bundle.entries.map((entry) =>
        entry.data['manifestDigest'] === first!.digest ? { ...entry, data: { ...entry.data, manifestDigest: digest } } : entry,
      ),
    };
    const report = await verify(evidence, canonicalJsonBytes(bundle));
    expect(report.valid, what).toBe(false);
    expect(
      report.checks.find((check) => check.name === 'manifests'),
      what,
    ).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/inclusion proof does not lead to the batch's root/),
    });
  }
});
