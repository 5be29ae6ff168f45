import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { AnchorCheckpoint, AnchorReceipt, AuditAnchorV1, CheckpointReference } from '@cairn/core';
import { anchorReceiptSchema, isCairnError } from '@cairn/protocol';
import { expectBytes, utf8 } from '../harness/bytes.ts';
import { expectSchema } from '../harness/expect-schema.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { describeError, expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import type { AuditAnchorOracle } from './audit-anchor-oracle.ts';

/** One audit anchor case. */
export type AuditAnchorCase = ConformanceCase<AuditAnchorV1, AuditAnchorOracle>;

const origin = 'cairn.conformance/log';

/**
 * A checkpoint like the ones the engine anchors: a DSSE envelope (JSON) over a signed tree head.
 * The anchor stores the envelope as opaque bytes; the signature is not its business, but another
 * `signature` over the same tree head (ECDSA differs each time) gives other envelope bytes.
 */
function checkpoint(treeSize: number, salt = '', signature = 'AA=='): AnchorCheckpoint {
  const rootHash = createHash('sha256').update(`root ${treeSize} ${salt}`).digest('hex');
  const payload = Buffer.from(JSON.stringify({ origin, treeSize, rootHash, time: '2026-11-22T12:00:00Z' })).toString('base64');
  const envelope = utf8(
    `${JSON.stringify({ payloadType: 'application/vnd.cairn.checkpoint+json', payload, signatures: [{ keyid: 'sha256:00', sig: signature }] })}\n`,
  );
  return { origin, treeSize, rootHash, envelope };
}

function reference(value: AnchorCheckpoint): CheckpointReference {
  return { origin: value.origin, treeSize: value.treeSize, rootHash: value.rootHash };
}

/** `sha256:<hex>` of the bytes, computed here rather than with any helper an anchor may share. */
function envelopeDigest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * Asserts that `receipt` is a well-formed AnchorReceipt (the protocol schema) issued by
 * `instance` for exactly `value`: its tree head, and the digest of its envelope bytes.
 */
function expectReceiptFor(receipt: AnchorReceipt, value: AnchorCheckpoint, instance: AuditAnchorV1, what: string): void {
  expectSchema(anchorReceiptSchema, receipt, 'AnchorReceipt', what);
  expect(receipt.anchor, `${what}: anchor is the anchor's provider`).toBe(instance.provider);
  expect(receipt.guarantee, `${what}: guarantee is the anchor's`).toBe(instance.guarantee);
  expect({ origin: receipt.origin, treeSize: receipt.treeSize, rootHash: receipt.rootHash }, `${what}: the tree head`).toEqual(reference(value));
  expect(receipt.envelopeDigest, `${what}: envelopeDigest is sha256 of the anchored envelope bytes`).toBe(envelopeDigest(value.envelope));
  if (receipt.retainUntil !== undefined && Date.parse(receipt.retainUntil) <= Date.parse(receipt.anchoredAt)) {
    fail(`${what}: retainUntil ${receipt.retainUntil} is not after anchoredAt ${receipt.anchoredAt}`);
  }
}

/** The AuditAnchorV1 cases, in registration order; exported for meta-tests. */
export const auditAnchorCases: readonly AuditAnchorCase[] = [
  {
    id: 'guarantee-declared',
    title: "declares its guarantee, 'detect' or 'external-immutable'; each receipt is a valid AnchorReceipt naming the anchor and that guarantee",
    async run({ instance }) {
      expect(['detect', 'external-immutable']).toContain(instance.guarantee);
      const value = checkpoint(1);
      expectReceiptFor(await instance.anchor(value), value, instance, 'receipt');
    },
  },
  {
    id: 'receipt-bound-to-checkpoint',
    title: 'the receipt is bound to what it anchors: origin, tree size, root hash, and envelopeDigest = sha256 of the envelope bytes',
    async run({ instance }) {
      // Two checkpoints whose envelopes differ only in the signature: each receipt has its own digest.
      const values = [checkpoint(5), checkpoint(6, '', 'BB=='), checkpoint(7, 'other root')];
      for (const value of values) expectReceiptFor(await instance.anchor(value), value, instance, `receipt of tree size ${value.treeSize}`);
    },
  },
  {
    id: 'anchor-read-exact',
    title: 'anchor then read returns the same envelope bytes and the same receipt, whose digest is that of the bytes read',
    async run({ instance }) {
      const value = checkpoint(10);
      const receipt = await instance.anchor(value);
      const read = await instance.read(reference(value));
      if (read === null) fail('read of an anchored checkpoint resolved to null');
      expectBytes(read.envelope, value.envelope, 'read envelope');
      expect(read.receipt).toEqual(receipt);
      expect(read.receipt.envelopeDigest, 'the receipt read back is bound to the bytes read back').toBe(envelopeDigest(read.envelope));
      expect(JSON.parse(JSON.stringify(receipt)), 'the receipt is plain JSON').toStrictEqual(receipt);
    },
  },
  {
    id: 'read-with-receipt',
    title: 'read with the receipt it issued (as a verifier hands over the bundle’s receipt) returns the same envelope and receipt',
    async run({ instance }) {
      const value = checkpoint(12);
      const receipt = await instance.anchor(value);
      const read = await instance.read(reference(value), receipt);
      if (read === null) fail('read with the receipt the anchor issued resolved to null');
      expectBytes(read.envelope, value.envelope, 'read envelope with the receipt');
      expect(read.receipt, 'the receipt read back with the receipt').toEqual(receipt);
    },
  },
  {
    id: 'anchor-idempotent',
    title: 'anchoring a tree head again (a retry, concurrently, or re-signed into other envelope bytes) returns the first receipt and keeps the first envelope',
    async run({ instance, oracle }) {
      const value = checkpoint(20);
      const first = await instance.anchor(value);
      expect(await instance.anchor(checkpoint(20)), 'a retry with the same bytes').toEqual(first);
      const concurrent = await Promise.all([instance.anchor(value), instance.anchor(value)]);
      expect(concurrent, 'concurrent retries').toEqual([first, first]);
      const resigned = checkpoint(20, '', 'cmUtc2lnbmVk');
      expect(await instance.anchor(resigned), 'the same tree head re-signed').toEqual(first);
      expectBytes((await instance.read(reference(value)))?.envelope, value.envelope, 'read after a re-signed anchoring keeps the first envelope');
      if (oracle) expectBytes(await oracle.readRaw(first.location), value.envelope, 'oracle.readRaw after anchoring again');
    },
  },
  {
    id: 'refuses-rewrite',
    title: 'anchoring another root at an anchored origin and tree size is refused with CAIRN_ANCHOR_CONFLICT and changes nothing',
    async run({ instance }) {
      const original = checkpoint(30);
      const receipt = await instance.anchor(original);
      await expectCairnError(() => instance.anchor(checkpoint(30, 'forged')), 'CAIRN_ANCHOR_CONFLICT', 'anchor of another root at size 30');
      const read = await instance.read(reference(original));
      expectBytes(read?.envelope, original.envelope, 'the original is still what reads back');
      expect(read?.receipt, 'the original receipt is still what reads back').toEqual(receipt);
      expect(await instance.read(reference(checkpoint(30, 'forged'))), 'the refused root was not anchored').toBeNull();
    },
  },
  {
    id: 'conflict-concurrent',
    title: 'of two different roots anchored concurrently at one tree size, exactly one is anchored and the other is CAIRN_ANCHOR_CONFLICT',
    async run({ instance }) {
      const contenders = [checkpoint(35, 'left'), checkpoint(35, 'right')];
      const settled = await Promise.allSettled(contenders.map((value) => instance.anchor(value)));
      const winners = settled.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
      if (winners.length !== 1) fail(`${winners.length} of two conflicting anchorings succeeded; exactly one may (a conditional create)`);
      const loser = settled[1 - winners[0]!]!;
      if (loser.status !== 'rejected' || !isCairnError(loser.reason, 'CAIRN_ANCHOR_CONFLICT')) {
        fail(`the losing anchoring did not reject with CAIRN_ANCHOR_CONFLICT: ${loser.status === 'rejected' ? describeError(loser.reason) : 'it resolved'}`);
      }
      const winner = contenders[winners[0]!]!;
      expectBytes((await instance.read(reference(winner)))?.envelope, winner.envelope, 'the winner reads back');
      expect(await instance.read(reference(contenders[1 - winners[0]!]!)), 'the loser was not anchored').toBeNull();
    },
  },
  {
    id: 'never-anchored-null',
    title: 'reading a checkpoint never anchored resolves to null, never throws',
    async run({ instance }) {
      expect(await instance.read(reference(checkpoint(40)))).toBeNull();
      await instance.anchor(checkpoint(41));
      expect(await instance.read(reference(checkpoint(40))), 'another size').toBeNull();
      expect(await instance.read({ ...reference(checkpoint(41)), rootHash: checkpoint(41, 'other').rootHash }), 'same size, another root').toBeNull();
      expect(await instance.read({ ...reference(checkpoint(41)), origin: 'cairn.conformance/other' }), 'another origin').toBeNull();
    },
  },
  {
    id: 'keeps-every-checkpoint',
    title: 'several checkpoints are all kept and each reads back its own bytes',
    async run({ instance }) {
      const values = [checkpoint(50), checkpoint(51), checkpoint(52), checkpoint(100)];
      for (const value of values) await instance.anchor(value);
      for (const value of values) expectBytes((await instance.read(reference(value)))?.envelope, value.envelope, `checkpoint ${value.treeSize}`);
    },
  },
  {
    id: 'oracle-sees-checkpoint',
    title: 'the stored checkpoint is in the backend at the receipt’s location (oracle)',
    needs: { oracle: true },
    async run({ instance, oracle }) {
      const value = checkpoint(60);
      const receipt = await instance.anchor(value);
      expectBytes(await oracle!.readRaw(receipt.location), value.envelope, 'oracle.readRaw(receipt.location)');
    },
  },
  {
    id: 'tampering-per-guarantee',
    title: "tampering through the backend: a 'detect' anchor's read throws CAIRN_ANCHOR_TAMPERED; an 'external-immutable' backend refuses it (oracle)",
    needs: { oracle: true },
    async run({ instance, oracle }) {
      const value = checkpoint(70);
      const receipt = await instance.anchor(value);
      const forged = checkpoint(70, 'forged').envelope;
      let overwritten = true;
      try {
        await oracle!.writeRaw(receipt.location, forged);
      } catch {
        overwritten = false;
      }
      if (instance.guarantee === 'external-immutable') {
        expect(overwritten, 'an external-immutable backend refused the overwrite').toBe(false);
        expectBytes((await instance.read(reference(value)))?.envelope, value.envelope, 'read after a refused overwrite');
        return;
      }
      if (!overwritten) fail("the oracle could not overwrite a 'detect' anchor; give an oracle that can, to prove reads are live and checked");
      // Neither a cached copy (hides the change) nor the forged bytes (no longer what the receipt
      // was written for) may come back: the read goes to the backend and reports what it found.
      await expectCairnError(() => instance.read(reference(value)), 'CAIRN_ANCHOR_TAMPERED', 'read after the envelope was overwritten in the backend');
    },
  },
];
