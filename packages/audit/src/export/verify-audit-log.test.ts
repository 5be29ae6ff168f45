// A whole log against every checkpoint, in one streaming pass: what passes, and each way it can
// fail, named by the seq (or tree size) where it was found.
import type { AuditEntry } from '@cairn/core';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { expect, test } from 'vitest';
import { readCheckpoint } from '../bundle/build-evidence-bundle.ts';
import { createRunEvidence } from '../bundle/run-evidence.test-support.ts';
import { signReceipt } from '../anchor/signed-receipt.ts';
import { signCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { auditLeafHash } from '../entries/audit-entry-leaf.ts';
import { perfectTreeHash } from '../merkle/merkle-hash.ts';
import { verifyAuditLog, type LogCheckpoint } from './verify-audit-log.ts';

async function logEvidence() {
  const evidence = await createRunEvidence({ extraItems: 3 });
  const checkpoints: LogCheckpoint[] = [
    { envelope: evidence.olderCheckpoint, anchored: false, receipts: [] },
    { envelope: evidence.bundle.checkpoint, anchored: true, receipts: evidence.bundle.anchors },
  ];
  return { evidence, checkpoints, options: { trustedKeys: [evidence.signer.record] } };
}

test('a whole log passes against every checkpoint, counting entries, checkpoints and anchors read', async () => {
  const { evidence, checkpoints, options } = await logEvidence();
  const anchor = {
    name: 'in-memory',
    guarantee: 'detect' as const,
    read: (reference: Parameters<typeof evidence.anchor.read>[0]) => evidence.anchor.read(reference),
  };
  const result = await verifyAuditLog(evidence.allEntries, checkpoints, { ...options, trustedAnchors: [anchor] });
  expect(result).toEqual({
    valid: true,
    entriesChecked: evidence.allEntries.length,
    checkpointsChecked: 2,
    anchorsRead: 1,
    uncoveredEntries: 0,
    coveredSize: evidence.allEntries.length,
  });
  // Entries after the last checkpoint are counted as not yet covered.
  const shorter = await verifyAuditLog(evidence.allEntries, checkpoints.slice(0, 1), options);
  expect(shorter).toMatchObject({
    valid: true,
    checkpointsChecked: 1,
    uncoveredEntries: evidence.allEntries.length - readCheckpoint(evidence.olderCheckpoint).treeSize,
  });
});

test("an edited entry fails at the checkpoint whose root it breaks, at its own seq when stored leaves are given, among its subtree's when stored subtrees are", async () => {
  const { evidence, checkpoints, options } = await logEvidence();
  const olderSize = readCheckpoint(evidence.olderCheckpoint).treeSize;
  const edited = evidence.allEntries.map((entry) => (entry.seq === olderSize + 2 ? { ...entry, time: '2026-11-22T10:59:59.000Z' } : entry));
  const byRoot = await verifyAuditLog(edited, checkpoints, options);
  expect(byRoot).toMatchObject({
    valid: false,
    checkpointsChecked: 1,
    failure: {
      seq: olderSize,
      treeSize: evidence.allEntries.length,
      detail: expect.stringContaining(`entries ${olderSize}..${evidence.allEntries.length - 1} do not recompute`),
    },
  });
  const leaves = evidence.allEntries.map((entry: AuditEntry) => auditLeafHash(entry));
  const bySeq = await verifyAuditLog(edited, checkpoints, { ...options, storedLeafHash: (seq) => leaves[seq] });
  expect(bySeq).toMatchObject({
    valid: false,
    failure: { seq: olderSize + 2, detail: expect.stringContaining(`entry seq ${olderSize + 2} does not hash to the leaf`) },
  });
  // A store that keeps subtrees of 2 entries, not leaves: the pair the edited entry is in.
  const pairs = Array.from({ length: Math.floor(leaves.length / 2) }, (_, index) => perfectTreeHash(leaves.slice(2 * index, 2 * index + 2)));
  const first = olderSize + 2 - ((olderSize + 2) % 2);
  expect(first + 1).toBeLessThan(evidence.allEntries.length);
  const byPair = await verifyAuditLog(edited, checkpoints, { ...options, storedSubtrees: { level: 1, hash: (index) => pairs[index] } });
  expect(byPair).toMatchObject({
    valid: false,
    failure: { seq: first, detail: expect.stringContaining(`entries ${first}..${first + 1} do not hash to the subtree the log stored over them`) },
  });
  // Untouched, the same stored subtrees pass; a level that is not one is refused, named.
  expect(await verifyAuditLog(evidence.allEntries, checkpoints, { ...options, storedSubtrees: { level: 1, hash: (index) => pairs[index] } })).toMatchObject({
    valid: true,
  });
  expect(await verifyAuditLog(evidence.allEntries, checkpoints, { ...options, storedSubtrees: { level: 1.5, hash: () => undefined } })).toMatchObject({
    valid: false,
    failure: { detail: expect.stringContaining('options.storedSubtrees.level must be an integer from 0 to 16') },
  });
});

test('a gap, a removed tail, a checkpoint by an untrusted key, and an anchor that lacks a checkpoint each fail, named', async () => {
  const { evidence, checkpoints, options } = await logEvidence();
  const gap = await verifyAuditLog(
    evidence.allEntries.filter((entry) => entry.seq !== 3),
    checkpoints,
    options,
  );
  expect(gap.failure).toMatchObject({ seq: 3, detail: expect.stringContaining('entry seq 4 found where seq 3 belongs') });
  const tail = await verifyAuditLog(evidence.allEntries.slice(0, -1), checkpoints, options);
  expect(tail.failure).toMatchObject({ treeSize: evidence.allEntries.length, detail: expect.stringContaining('entries were removed') });
  const forged = await signCheckpoint(readCheckpoint(evidence.olderCheckpoint), createTestSigner().signer);
  const untrusted = await verifyAuditLog(evidence.allEntries, [{ ...checkpoints[0]!, envelope: forged }, checkpoints[1]!], options);
  expect(untrusted).toMatchObject({ valid: false, checkpointsChecked: 0, failure: { detail: expect.stringContaining('trusted key') } });
  const empty = createInMemoryAuditAnchor();
  const missing = await verifyAuditLog(evidence.allEntries, checkpoints, {
    ...options,
    trustedAnchors: [{ name: 'file:/elsewhere', guarantee: 'detect', read: (reference) => empty.read(reference) }],
  });
  expect(missing.failure).toMatchObject({ treeSize: evidence.allEntries.length, detail: expect.stringContaining('file:/elsewhere holds no checkpoint') });
  // A checkpoint re-signed by the real key over another root: the entries do not recompute it.
  const rewritten = await signCheckpoint({ ...readCheckpoint(evidence.bundle.checkpoint), rootHash: 'f'.repeat(64) }, evidence.signer.signer);
  expect(
    (await verifyAuditLog(evidence.allEntries, [checkpoints[0]!, { envelope: rewritten, anchored: true, receipts: [] }], options)).failure?.detail,
  ).toContain('do not recompute');
});

test("a stored receipt a trusted anchor calls its own is handed to it, and one it refuses fails at that checkpoint's tree size", async () => {
  const { evidence, checkpoints, options } = await logEvidence();
  const handed: unknown[] = [];
  const anchor = {
    name: 'receipt-checking',
    guarantee: 'external-immutable' as const,
    isOwnReceipt: () => true,
    read: async (reference: Parameters<typeof evidence.anchor.read>[0], receipt?: unknown) => {
      handed.push(receipt);
      if ((receipt as { location?: string } | undefined)?.location === 'swapped') throw new Error('the receipt names a version this anchor does not hold');
      return evidence.anchor.read(reference);
    },
  };
  expect(await verifyAuditLog(evidence.allEntries, checkpoints, { ...options, trustedAnchors: [anchor] })).toMatchObject({ valid: true, anchorsRead: 1 });
  expect(handed).toHaveLength(1);
  expect(handed[0]).toMatchObject({ treeSize: evidence.allEntries.length });
  const receipt = (await evidence.anchor.read(handed[0] as Parameters<typeof evidence.anchor.read>[0]))!.receipt;
  const swapped = await signReceipt({ ...receipt, location: 'swapped' }, evidence.signer.signer);
  const refused = await verifyAuditLog(evidence.allEntries, [checkpoints[0]!, { ...checkpoints[1]!, receipts: [swapped] }], {
    ...options,
    trustedAnchors: [anchor],
  });
  expect(refused.failure).toMatchObject({
    treeSize: evidence.allEntries.length,
    detail: expect.stringContaining('named by the receipt swapped failed: the receipt names a version this anchor does not hold'),
  });
});
