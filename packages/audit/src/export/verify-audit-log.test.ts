// A whole log against every checkpoint, in one streaming pass: what passes, and each way it can
// fail, named by the seq (or tree size) where it was found; a failed checkpoint does not end the
// check, a failure of the log itself does, and every checkpoint is reported with its result.
import type { AuditEntry, CheckpointReference, DsseEnvelope } from '@cairn/core';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { expect, test } from 'vitest';
import { readCheckpoint } from '../bundle/build-evidence-bundle.ts';
import { createRunEvidence } from '../bundle/run-evidence.test-support.ts';
import { anchorEnvelopeDigest, signReceipt } from '../anchor/signed-receipt.ts';
import { signCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { createTestSigner } from '../dsse/test-signer.test-support.ts';
import { auditEntryBytes, auditLeafHash } from '../entries/audit-entry-leaf.ts';
import { perfectTreeHash } from '../merkle/merkle-hash.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
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
  const olderSize = readCheckpoint(evidence.olderCheckpoint).treeSize;
  expect(result).toEqual({
    valid: true,
    entriesChecked: evidence.allEntries.length,
    checkpointsChecked: 2,
    checkpointsFailed: 0,
    checkpointsNotChecked: 0,
    anchorsRead: 1,
    uncoveredEntries: 0,
    coveredSize: evidence.allEntries.length,
    // The older checkpoint is not anchored: no anchor is read for it, and it says so.
    checkpoints: [
      { treeSize: olderSize, result: 'verified', anchored: false, anchorsRead: 0 },
      { treeSize: evidence.allEntries.length, result: 'verified', anchored: true, anchorsRead: 1 },
    ],
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

const origin = 'cairn:test';

/** A log of `size` entries with a checkpoint every `every` entries, each anchored with a signed receipt. */
async function anchoredLog(size: number, every: number) {
  const signer = createTestSigner();
  const log = MerkleLog.open();
  const entries: AuditEntry[] = [];
  const checkpoints: LogCheckpoint[] = [];
  for (let seq = 0; seq < size; seq++) {
    const entry: AuditEntry = {
      seq,
      time: new Date(Date.UTC(2026, 10, 23, 10, 0, seq)).toISOString(),
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action: 'server.started',
      entity: { kind: 'server', id: 'test' },
      outcome: 'success',
      data: {},
    };
    log.append(auditEntryBytes(entry));
    entries.push(entry);
    if ((seq + 1) % every !== 0) continue;
    const rootHash = Buffer.from(log.rootHash(seq + 1)).toString('hex');
    const envelope: DsseEnvelope = await signCheckpoint({ origin, treeSize: seq + 1, rootHash, time: entry.time }, signer.signer);
    const receipt = await signReceipt(
      {
        anchor: 'file',
        guarantee: 'detect',
        location: `file:/anchors/${seq + 1}`,
        anchoredAt: entry.time,
        origin,
        treeSize: seq + 1,
        rootHash,
        envelopeDigest: anchorEnvelopeDigest(envelope),
      },
      signer.signer,
    );
    checkpoints.push({ envelope, anchored: true, receipts: [receipt] });
  }
  return { entries, checkpoints, options: { trustedKeys: [signer.record], origin } };
}

/** A trusted anchor that holds every checkpoint of `log` except those at `refused` tree sizes (a forged version makes S3 refuse one). */
function anchorHolding(log: Awaited<ReturnType<typeof anchoredLog>>, refused: readonly number[]) {
  return {
    name: 'test-anchor',
    guarantee: 'external-immutable' as const,
    read: async (reference: CheckpointReference) => {
      if (refused.includes(reference.treeSize)) throw new Error(`a forged version is locked beside the anchored one at tree size ${reference.treeSize}`);
      const stored = log.checkpoints.find((checkpoint) => readCheckpoint(checkpoint.envelope).treeSize === reference.treeSize)!;
      const bytes = new TextEncoder().encode(JSON.stringify(stored.envelope));
      return {
        envelope: bytes,
        receipt: {
          anchor: 'test',
          guarantee: 'external-immutable' as const,
          location: 'test',
          anchoredAt: '',
          ...reference,
          envelopeDigest: anchorEnvelopeDigest(stored.envelope),
        },
      };
    },
  };
}

test('a checkpoint an anchor refuses fails on its own: the check goes on, and every later checkpoint is read and verified', async () => {
  const log = await anchoredLog(12, 3);
  const result = await verifyAuditLog(log.entries, log.checkpoints, { ...log.options, trustedAnchors: [anchorHolding(log, [6])] });
  expect(result).toMatchObject({
    valid: false,
    entriesChecked: 12,
    checkpointsChecked: 3,
    checkpointsFailed: 1,
    checkpointsNotChecked: 0,
    anchorsRead: 3,
    coveredSize: 12,
    failure: { treeSize: 6, detail: expect.stringContaining('a forged version is locked beside the anchored one at tree size 6') },
  });
  expect(result.checkpoints).toEqual([
    { treeSize: 3, result: 'verified', anchored: true, anchorsRead: 1 },
    {
      treeSize: 6,
      result: 'failed',
      anchored: true,
      anchorsRead: 0,
      detail: expect.stringContaining('test-anchor: reading the checkpoint of cairn:test at tree size 6 failed'),
    },
    { treeSize: 9, result: 'verified', anchored: true, anchorsRead: 1 },
    { treeSize: 12, result: 'verified', anchored: true, anchorsRead: 1 },
  ]);
  // The first failure is the earliest checkpoint's, whichever failed first in time.
  const two = await verifyAuditLog(log.entries, log.checkpoints, { ...log.options, trustedAnchors: [anchorHolding(log, [6, 12])] });
  expect(two).toMatchObject({ checkpointsChecked: 2, checkpointsFailed: 2, failure: { treeSize: 6 } });
});

test('an edited entry fails every checkpoint over it, each named from the last checkpoint the entries did match', async () => {
  const log = await anchoredLog(12, 3);
  const edited = log.entries.map((entry) => (entry.seq === 4 ? { ...entry, time: '2020-01-01T00:00:00.000Z' } : entry));
  const result = await verifyAuditLog(edited, log.checkpoints, log.options);
  expect(result).toMatchObject({ valid: false, checkpointsChecked: 1, checkpointsFailed: 3, failure: { seq: 3, treeSize: 6 } });
  expect(result.checkpoints.map((checkpoint) => [checkpoint.treeSize, checkpoint.result, checkpoint.detail?.slice(0, 36)])).toEqual([
    [3, 'verified', undefined],
    [6, 'failed', 'entries 3..5 do not recompute the si'],
    [9, 'failed', 'entries 3..8 do not recompute the si'],
    [12, 'failed', 'entries 3..11 do not recompute the s'],
  ]);
});

test('a failure of the log itself stops the check: the checkpoints it did not reach are reported not checked, never verified', async () => {
  const log = await anchoredLog(12, 3);
  const gap = await verifyAuditLog(
    log.entries.filter((entry) => entry.seq !== 7),
    log.checkpoints,
    log.options,
  );
  expect(gap).toMatchObject({
    valid: false,
    entriesChecked: 7,
    checkpointsChecked: 2,
    checkpointsFailed: 0,
    checkpointsNotChecked: 2,
    failure: { seq: 7, detail: expect.stringContaining('entry seq 8 found where seq 7 belongs') },
  });
  expect(gap.checkpoints.map((checkpoint) => [checkpoint.treeSize, checkpoint.result])).toEqual([
    [3, 'verified'],
    [6, 'verified'],
    [9, 'not-checked'],
    [12, 'not-checked'],
  ]);
  expect(gap.checkpoints[2]!.detail).toBe('the check stopped at seq 7, at a failure of the log itself, before it was finished');
  // Entries removed from the end: each checkpoint beyond the log fails, named.
  const tail = await verifyAuditLog(log.entries.slice(0, 7), log.checkpoints, log.options);
  expect(tail.checkpoints.map((checkpoint) => [checkpoint.treeSize, checkpoint.result])).toEqual([
    [3, 'verified'],
    [6, 'verified'],
    [9, 'failed'],
    [12, 'failed'],
  ]);
  expect(tail.failure).toMatchObject({ treeSize: 9, detail: expect.stringContaining('entries were removed') });
});

test('a checkpoint that cannot be read or is out of order fails on its own, and the checkpoints after it are still checked', async () => {
  const log = await anchoredLog(9, 3);
  const unreadable: LogCheckpoint = { envelope: { ...log.checkpoints[1]!.envelope, payload: 'not base64 json' }, anchored: false, receipts: [] };
  const result = await verifyAuditLog(log.entries, [log.checkpoints[0]!, unreadable, log.checkpoints[0]!, log.checkpoints[2]!], log.options);
  expect(result).toMatchObject({ valid: false, checkpointsChecked: 2, checkpointsFailed: 2, failure: { treeSize: 3 } });
  expect(result.checkpoints.map((checkpoint) => [checkpoint.treeSize, checkpoint.result])).toEqual([
    [3, 'verified'],
    [undefined, 'failed'],
    [3, 'failed'],
    [9, 'verified'],
  ]);
  expect(result.checkpoints[2]!.detail).toContain('checkpoints out of order or repeated');
});
