// A log whose signing key was rotated (ADR 0019): the genuine handover verifies with either end
// of the key chain trusted, and every way to fake or skip one fails, named.
import type { AuditEntry, DsseEnvelope, JsonObject, SignerRotation, SignerV1 } from '@cairn/core';
import { expect, test } from 'vitest';
import { signReceipt } from '../anchor/signed-receipt.ts';
import { anchorEnvelopeDigest } from '../anchor/signed-receipt.ts';
import { signCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { createTestSigner, type TestSigner } from '../dsse/test-signer.test-support.ts';
import { signEnvelope } from '../dsse/dsse-envelope.ts';
import { auditEntryBytes } from '../entries/audit-entry-leaf.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { signerRotatedData, signerRotationPayloadType, signSignerRotation } from '../rotation/signer-rotation-envelope.ts';
import { canonicalJsonBytes } from '@cairn/protocol';
import { verifyAuditLog, type LogCheckpoint } from './verify-audit-log.ts';

const origin = 'cairn:test';
const time = (seq: number) => new Date(Date.UTC(2026, 10, 23, 10, 0, seq)).toISOString();

/** A log being written: entries, and checkpoints signed by whichever key the test says. */
class TestLog {
  readonly log = MerkleLog.open();
  readonly entries: AuditEntry[] = [];
  readonly checkpoints: LogCheckpoint[] = [];

  append(action: AuditEntry['action'], data: JsonObject = {}, entity: AuditEntry['entity'] = { kind: 'server', id: 'test' }): AuditEntry {
    const entry: AuditEntry = {
      seq: this.log.size,
      time: time(this.log.size),
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action,
      entity,
      outcome: 'success',
      data,
    };
    this.log.append(auditEntryBytes(entry));
    this.entries.push(entry);
    return entry;
  }

  rootHex(size = this.log.size): string {
    return Buffer.from(this.log.rootHash(size)).toString('hex');
  }

  async checkpoint(signer: SignerV1, receiptSigner?: SignerV1): Promise<DsseEnvelope> {
    const size = this.log.size;
    const envelope = await signCheckpoint({ origin, treeSize: size, rootHash: this.rootHex(), time: time(size) }, signer);
    const receipts = receiptSigner
      ? [
          await signReceipt(
            {
              anchor: 'file',
              guarantee: 'detect',
              location: `file:/anchors/${size}`,
              anchoredAt: time(size),
              origin,
              treeSize: size,
              rootHash: this.rootHex(),
              envelopeDigest: anchorEnvelopeDigest(envelope),
            },
            receiptSigner,
          ),
        ]
      : [];
    this.checkpoints.push({ envelope, anchored: receipts.length > 0, receipts });
    return envelope;
  }

  rotation(from: TestSigner, to: TestSigner, overrides: Partial<SignerRotation> = {}): SignerRotation {
    const fromCheckpoint =
      this.checkpoints.length > 0 ? Number(JSON.parse(Buffer.from(this.checkpoints.at(-1)!.envelope.payload, 'base64').toString()).treeSize) : 0;
    return {
      version: 'cairn.signer-rotation/v1',
      origin,
      from: from.record,
      to: to.record,
      fromCheckpoint,
      rootHash: this.rootHex(fromCheckpoint),
      time: time(this.log.size),
      ...overrides,
    };
  }

  async rotate(from: TestSigner, to: TestSigner, overrides: Partial<SignerRotation> = {}): Promise<AuditEntry> {
    const rotation = this.rotation(from, to, overrides);
    return this.append('signer.rotated', signerRotatedData(rotation, await signSignerRotation(rotation, from.signer)), { kind: 'signer', id: to.record.keyId });
  }
}

/** A → B: three entries and a checkpoint by A, the handover signed by A, then B signs the rest. */
async function rotatedLog() {
  const [a, b] = [createTestSigner(), createTestSigner('ecdsa-p256-sha256')];
  const log = new TestLog();
  for (let index = 0; index < 3; index++) log.append('server.started');
  await log.checkpoint(a.signer, a.signer);
  const rotated = await log.rotate(a, b);
  await log.checkpoint(b.signer, b.signer);
  for (let index = 0; index < 3; index++) log.append('server.started');
  await log.checkpoint(b.signer);
  return { a, b, log, rotated };
}

test('a genuine rotation verifies with the old key, the new key or both trusted, and with neither fails naming the first key', async () => {
  const { a, b, log } = await rotatedLog();
  for (const trustedKeys of [[a.record], [b.record], [a.record, b.record]]) {
    expect(await verifyAuditLog(log.entries, log.checkpoints, { trustedKeys })).toEqual({
      valid: true,
      entriesChecked: 7,
      checkpointsChecked: 3,
      checkpointsFailed: 0,
      checkpointsNotChecked: 0,
      anchorsRead: 0,
      uncoveredEntries: 0,
      coveredSize: 7,
      checkpoints: [
        { treeSize: 3, result: 'verified', anchored: true, anchorsRead: 0 },
        { treeSize: 4, result: 'verified', anchored: true, anchorsRead: 0 },
        { treeSize: 7, result: 'verified', anchored: false, anchorsRead: 0 },
      ],
    });
  }
  const stranger = createTestSigner();
  const untrusted = await verifyAuditLog(log.entries, log.checkpoints, { trustedKeys: [stranger.record] });
  expect(untrusted).toMatchObject({
    valid: false,
    checkpointsChecked: 0,
    checkpointsFailed: 3,
    failure: { treeSize: 0, detail: expect.stringContaining(`signed by ${a.record.keyId}, which is not trusted`) },
  });
  // Each held signature fails on its own checkpoint, naming its own key.
  expect(untrusted.checkpoints.map((checkpoint) => checkpoint.detail)).toEqual([
    expect.stringContaining(`signed by ${a.record.keyId}, which is not trusted`),
    expect.stringContaining(`signed by ${b.record.keyId}, which is not trusted`),
    expect.stringContaining(`signed by ${b.record.keyId}, which is not trusted`),
  ]);
});

test("a receipt the new key signed for the old key's checkpoint is checked once the handover vouches for the new key", async () => {
  const [a, b] = [createTestSigner(), createTestSigner()];
  const log = new TestLog();
  log.append('server.started');
  // Anchored only after the restart with B: B signs the receipt of A's checkpoint.
  await log.checkpoint(a.signer, b.signer);
  await log.rotate(a, b);
  await log.checkpoint(b.signer);
  expect(await verifyAuditLog(log.entries, log.checkpoints, { trustedKeys: [a.record] })).toMatchObject({ valid: true, checkpointsChecked: 2 });
  // Without the handover, that receipt's key is vouched for by nobody.
  const forged = log.checkpoints.slice(0, 1);
  const result = await verifyAuditLog(log.entries.slice(0, 1), forged, { trustedKeys: [a.record] });
  expect(result).toMatchObject({
    valid: false,
    failure: {
      treeSize: 1,
      detail: expect.stringContaining(
        `receipt 0 of the checkpoint at tree size 1: No signature of the envelope is by a trusted key: it is signed by ${b.record.keyId}`,
      ),
    },
  });
});

test('a forged rotation — the statement signed by the new key — fails at its seq, named', async () => {
  const [a, b] = [createTestSigner(), createTestSigner()];
  const log = new TestLog();
  log.append('server.started');
  await log.checkpoint(a.signer);
  const rotation = log.rotation(a, b);
  // The attacker holds B only: the statement says "from A" but B signs it.
  const statement = await signEnvelope(signerRotationPayloadType, canonicalJsonBytes(rotation), b.signer);
  const entry = log.append('signer.rotated', signerRotatedData(rotation, statement), { kind: 'signer', id: b.record.keyId });
  await log.checkpoint(b.signer);
  for (const trustedKeys of [[a.record], [b.record], [a.record, b.record]]) {
    const result = await verifyAuditLog(log.entries, log.checkpoints, { trustedKeys });
    expect(result).toMatchObject({
      valid: false,
      failure: {
        seq: entry.seq,
        detail: expect.stringContaining(
          `the rotation statement is not signed by the key it hands over from (${a.record.keyId}); its signatures name ${b.record.keyId}`,
        ),
      },
    });
    expect(result.failure!.detail).toContain('a forged rotation');
  }
});

test('a key change without a rotation entry, a checkpoint by the old key after the handover, and a rotation by a key not in force each fail, named', async () => {
  const [a, b, c] = [createTestSigner(), createTestSigner(), createTestSigner()];
  const silent = new TestLog();
  silent.append('server.started');
  await silent.checkpoint(a.signer);
  silent.append('server.started');
  await silent.checkpoint(b.signer);
  expect(await verifyAuditLog(silent.entries, silent.checkpoints, { trustedKeys: [a.record, b.record] })).toMatchObject({
    valid: false,
    failure: {
      treeSize: 2,
      detail: expect.stringContaining(
        `is signed by ${b.record.keyId}, but the key in force since the first checkpoint (tree size 1) is ${a.record.keyId}: the signing key changed without a signer.rotated entry`,
      ),
    },
  });

  const handedOver = await rotatedLog();
  handedOver.log.append('server.started');
  await handedOver.log.checkpoint(handedOver.a.signer);
  expect(await verifyAuditLog(handedOver.log.entries, handedOver.log.checkpoints, { trustedKeys: [handedOver.a.record, handedOver.b.record] })).toMatchObject({
    valid: false,
    failure: {
      treeSize: 8,
      detail: expect.stringContaining(
        `is signed by ${handedOver.a.record.keyId}, but the key in force since the signer.rotated entry at seq ${handedOver.rotated.seq} is ${handedOver.b.record.keyId}`,
      ),
    },
  });

  // C hands over a log it never signed (its own statement is well signed, by C).
  const hijack = new TestLog();
  hijack.append('server.started');
  await hijack.checkpoint(a.signer);
  const entry = await hijack.rotate(c, b);
  await hijack.checkpoint(b.signer);
  expect(await verifyAuditLog(hijack.entries, hijack.checkpoints, { trustedKeys: [a.record, b.record, c.record] })).toMatchObject({
    valid: false,
    failure: {
      seq: entry.seq,
      detail: expect.stringContaining(
        `hands the log over from ${c.record.keyId}, but the key in force since the first checkpoint (tree size 1) is ${a.record.keyId}`,
      ),
    },
  });
});

test('a rotation statement made for another handover point, or whose entry data disagrees with it, fails', async () => {
  const [a, b] = [createTestSigner(), createTestSigner()];
  const elsewhere = new TestLog();
  elsewhere.append('server.started');
  elsewhere.append('server.started');
  await elsewhere.checkpoint(a.signer);
  // Signed by A, but for tree size 1: a statement lifted from another point (or log).
  const entry = await elsewhere.rotate(a, b, { fromCheckpoint: 1, rootHash: elsewhere.rootHex(1) });
  await elsewhere.checkpoint(b.signer);
  expect(await verifyAuditLog(elsewhere.entries, elsewhere.checkpoints, { trustedKeys: [a.record] })).toMatchObject({
    valid: false,
    failure: { seq: entry.seq, detail: expect.stringContaining('a statement made for another log or another point') },
  });

  const edited = new TestLog();
  edited.append('server.started');
  await edited.checkpoint(a.signer);
  const rotation = edited.rotation(a, b);
  const data = { ...signerRotatedData(rotation, await signSignerRotation(rotation, a.signer)), toKeyId: createTestSigner().record.keyId };
  const lying = edited.append('signer.rotated', data, { kind: 'signer', id: b.record.keyId });
  await edited.checkpoint(b.signer);
  expect(await verifyAuditLog(edited.entries, edited.checkpoints, { trustedKeys: [a.record] })).toMatchObject({
    valid: false,
    failure: { seq: lying.seq, detail: expect.stringContaining('but the signed statement says') },
  });
});

test('signSignerRotation refuses a signer that is not the key handing over', async () => {
  const [a, b] = [createTestSigner(), createTestSigner()];
  const log = new TestLog();
  log.append('server.started');
  await log.checkpoint(a.signer);
  await expect(signSignerRotation(log.rotation(a, b), b.signer)).rejects.toMatchObject({ code: 'CAIRN_SIGNER_FAILED' });
});

test('a rotation statement must carry its own payload type: the same payload signed by the old key as another type is refused', async () => {
  const [a, b] = [createTestSigner(), createTestSigner()];
  const log = new TestLog();
  log.append('server.started');
  await log.checkpoint(a.signer);
  const rotation = log.rotation(a, b);
  // Signed by the right key, but as a checkpoint: a signature made for one purpose never serves another.
  const retyped = await signEnvelope('application/vnd.cairn.checkpoint+json', canonicalJsonBytes(rotation), a.signer);
  expect(signerRotationPayloadType).toBe('application/vnd.cairn.signer-rotation+json');
  const entry = log.append('signer.rotated', signerRotatedData(rotation, retyped), { kind: 'signer', id: b.record.keyId });
  await log.checkpoint(b.signer);
  const result = await verifyAuditLog(log.entries, log.checkpoints, { trustedKeys: [a.record] });
  expect(result).toMatchObject({
    valid: false,
    failure: {
      seq: entry.seq,
      detail: expect.stringContaining(`the statement's payloadType is "application/vnd.cairn.checkpoint+json", not "${signerRotationPayloadType}"`),
    },
  });
});
