import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { AnchorCheckpoint, AuditAnchorV1 } from '@cairn/core';
import { expectBytes, utf8 } from '../harness/bytes.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import { describeError, expectCairnError } from '../harness/expect-cairn-error.ts';
import { fail } from '../harness/fail.ts';
import { isCairnError } from '@cairn/protocol';
import type { AuditAnchorOracle } from './audit-anchor-oracle.ts';

/** One audit anchor case. */
export type AuditAnchorCase = ConformanceCase<AuditAnchorV1, AuditAnchorOracle>;

const origin = 'cairn.conformance/log';

/**
 * A checkpoint like the ones the engine anchors: a DSSE envelope (JSON) over a signed tree head.
 * The anchor stores the envelope as opaque bytes; the signature is not its business.
 */
function checkpoint(treeSize: number, salt = ''): AnchorCheckpoint {
  const rootHash = createHash('sha256').update(`root ${treeSize} ${salt}`).digest('hex');
  const payload = Buffer.from(JSON.stringify({ origin, treeSize, rootHash, time: '2026-11-22T12:00:00Z' })).toString('base64');
  const envelope = utf8(
    `${JSON.stringify({ payloadType: 'application/vnd.cairn.checkpoint+json', payload, signatures: [{ keyid: 'sha256:00', sig: 'AA==' }] })}\n`,
  );
  return { origin, treeSize, rootHash, envelope };
}

function reference(value: AnchorCheckpoint) {
  return { origin: value.origin, treeSize: value.treeSize, rootHash: value.rootHash };
}

/** The AuditAnchorV1 cases, in registration order; exported for meta-tests. */
export const auditAnchorCases: readonly AuditAnchorCase[] = [
  {
    id: 'guarantee-declared',
    title: "declares its guarantee: 'detect' or 'external-immutable', also on each receipt",
    async run({ instance }) {
      expect(['detect', 'external-immutable']).toContain(instance.guarantee);
      const receipt = await instance.anchor(checkpoint(1));
      expect(receipt.guarantee).toBe(instance.guarantee);
      expect(typeof receipt.location).toBe('string');
      expect(Number.isNaN(Date.parse(receipt.anchoredAt)), `anchoredAt ${receipt.anchoredAt} is a date`).toBe(false);
    },
  },
  {
    id: 'receipt-bound-to-checkpoint',
    title: 'the receipt names the checkpoint it anchors: origin, tree size, root hash and the envelope digest',
    async run({ instance }) {
      const value = checkpoint(5);
      const receipt = await instance.anchor(value);
      expect({ origin: receipt.origin, treeSize: receipt.treeSize, rootHash: receipt.rootHash }).toEqual(reference(value));
      expect(receipt.envelopeDigest, 'envelopeDigest is sha256 of the anchored bytes').toBe(`sha256:${createHash('sha256').update(value.envelope).digest('hex')}`);
    },
  },
  {
    id: 'anchor-read-exact',
    title: 'anchor then read returns the same envelope bytes and the same receipt',
    async run({ instance }) {
      const value = checkpoint(10);
      const receipt = await instance.anchor(value);
      const read = await instance.read(reference(value));
      if (read === null) fail('read of an anchored checkpoint resolved to null');
      expectBytes(read.envelope, value.envelope, 'read envelope');
      expect(read.receipt).toEqual(receipt);
      expect(JSON.parse(JSON.stringify(receipt)), 'the receipt is plain JSON').toEqual(receipt);
    },
  },
  {
    id: 'anchor-idempotent',
    title: 'anchoring the same checkpoint twice is idempotent: same receipt, one stored copy',
    async run({ instance, oracle }) {
      const value = checkpoint(20);
      const first = await instance.anchor(value);
      const second = await instance.anchor(checkpoint(20));
      expect(second).toEqual(first);
      const concurrent = await Promise.all([instance.anchor(value), instance.anchor(value)]);
      expect(concurrent).toEqual([first, first]);
      if (oracle) expectBytes(await oracle.readRaw(first.location), value.envelope, 'oracle.readRaw after anchoring twice');
    },
  },
  {
    id: 'refuses-rewrite',
    title: 'anchoring a different checkpoint of the same origin and size is refused with CAIRN_ANCHOR_CONFLICT',
    async run({ instance }) {
      const original = checkpoint(30);
      await instance.anchor(original);
      await expectCairnError(() => instance.anchor(checkpoint(30, 'forged')), 'CAIRN_ANCHOR_CONFLICT', 'anchor of another root at size 30');
      const read = await instance.read(reference(original));
      expectBytes(read?.envelope, original.envelope, 'the original is still what reads back');
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
    title: "tampering through the backend: a 'detect' anchor reads it live or reports it; an 'external-immutable' one refuses it (oracle)",
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
      if (!overwritten) fail("the oracle could not overwrite a 'detect' anchor; give an oracle that can, to prove reads are live");
      // A 'detect' anchor must never hide tampering behind a cached copy: it returns what is
      // stored now (the verifier then sees the signature fail) or reports the tampering itself.
      let read: Awaited<ReturnType<AuditAnchorV1['read']>>;
      try {
        read = await instance.read(reference(value));
      } catch (error) {
        if (isCairnError(error, 'CAIRN_ANCHOR_TAMPERED')) return;
        fail(`read after tampering threw ${describeError(error)}; expected the stored bytes or CAIRN_ANCHOR_TAMPERED`);
      }
      expectBytes(read?.envelope, forged, 'read after tampering returns what the backend holds now');
    },
  },
];
