// Evidence bundles verified online against the S3 Object Lock anchor as the verifier's trusted
// anchor: a real run's bundle (entries in a Merkle log, a signed checkpoint anchored in radosgw, its
// signed receipt), then each attack on the anchor, and the `anchor` check's verdict on it.
import { generateKeyPairSync, sign } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, PutObjectRetentionCommand } from '@aws-sdk/client-s3';
import {
  anchorEnvelopeBytes,
  auditEntryBytes,
  buildEvidenceBundle,
  encodeBase64,
  keyIdOf,
  MerkleLog,
  serializeEvidenceBundle,
  signCheckpoint,
  signReceipt,
  verifyBundle,
} from '@cairn/audit';
import type { AnchorReceipt, AuditEntry, DsseEnvelope, EvidenceBundleV1, PublicKeyRecord, RunSpecV1, SignerV1 } from '@cairn/core';
import { digestOfJson, sha256Digest } from '@cairn/protocol';
import { beforeAll, describe, expect, test } from 'vitest';
import { createTestBucket, radosgwClient } from '../testing/radosgw-connection.ts';
import { parseReceiptLocation, receiptLocation } from './receipt-location.ts';
import { createS3ObjectLockAnchor, type S3ObjectLockAnchor } from './s3-object-lock-anchor.ts';

const client = radosgwClient();

function createSigner(): { signer: SignerV1; record: PublicKeyRecord } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
  const record: PublicKeyRecord = { keyId: keyIdOf(der), algorithm: 'ed25519', publicKey: encodeBase64(der) };
  const signer: SignerV1 = {
    specificationVersion: 'v1',
    provider: 'test',
    algorithm: 'ed25519',
    keyId: async () => record.keyId,
    publicKey: async () => der,
    sign: async (message) => new Uint8Array(sign(null, message, privateKey)),
  };
  return { signer, record };
}

interface AnchoredRun {
  readonly bundle: EvidenceBundleV1;
  readonly receipt: AnchorReceipt;
  readonly signer: ReturnType<typeof createSigner>;
  /** The verifier's own anchor: the same bucket and prefix, built from its configuration. */
  readonly verifierAnchor: S3ObjectLockAnchor;
}

/** A run of one item's life (submitted, started, its item succeeded, succeeded), checkpointed and anchored in S3 as the engine does. */
async function anchoredRun(bucket: string): Promise<AnchoredRun> {
  const signer = createSigner();
  const runId = 'run-s3';
  const spec: RunSpecV1 = { version: 1, name: runId, items: [{ id: 'edit', runtime: { kind: 'command', argv: ['node', 'edit.js'] } }] };
  const log = MerkleLog.open();
  const entries: AuditEntry[] = [];
  for (const [runSeq, action] of (['run.submitted', 'run.started', 'item.succeeded', 'run.succeeded'] as const).entries()) {
    const entry: AuditEntry = {
      seq: log.size,
      time: new Date(Date.UTC(2026, 10, 23, 10, 0, runSeq)).toISOString(),
      actor: { kind: 'system', id: 'engine', via: 'engine' },
      action,
      // Its one item ends too: completeness asks every item of the run to have an entry saying how.
      entity: action === 'item.succeeded' ? { kind: 'item', id: `${runId}/edit` } : { kind: 'run', id: runId },
      outcome: 'success',
      runId,
      runSeq,
      data: action === 'run.submitted' ? { specDigest: digestOfJson(spec) } : {},
    };
    log.append(auditEntryBytes(entry));
    entries.push(entry);
  }
  const rootHash = Buffer.from(log.rootHash()).toString('hex');
  const checkpoint: DsseEnvelope = await signCheckpoint(
    { origin: 'cairn:s3-bundle-test', treeSize: log.size, rootHash, time: new Date().toISOString() },
    signer.signer,
  );
  const settings = { bucket, prefix: `bundle-${Math.random().toString(16).slice(2)}/`, client, retentionDays: 1 };
  const anchor = createS3ObjectLockAnchor(settings);
  const receipt = await anchor.anchor({ origin: 'cairn:s3-bundle-test', treeSize: log.size, rootHash, envelope: anchorEnvelopeBytes(checkpoint) });
  const bundle = buildEvidenceBundle({
    runId,
    spec,
    entries,
    proofs: log,
    checkpoint,
    anchors: [await signReceipt(receipt, signer.signer)],
    keys: [signer.record],
    manifests: [],
  });
  return { bundle, receipt, signer, verifierAnchor: createS3ObjectLockAnchor(settings) };
}

async function verifyOnline(run: AnchoredRun, bundle: EvidenceBundleV1 = run.bundle) {
  const report = await verifyBundle(serializeEvidenceBundle(bundle), { trustedKeys: [run.signer.record], trustedAnchors: [run.verifierAnchor] });
  return { report, anchor: report.checks.find((check) => check.name === 'anchor')! };
}

/** The bundle with its receipt replaced by `receipt`, re-signed by the log key (its holder is who the anchor holds in check). */
async function withReceipt(run: AnchoredRun, receipt: AnchorReceipt): Promise<EvidenceBundleV1> {
  return { ...run.bundle, anchors: [await signReceipt(receipt, run.signer.signer)] };
}

describe('verifyBundle with the S3 Object Lock anchor as trusted anchor', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await createTestBucket(client, { objectLock: true });
  });

  test('a genuine bundle is verified and tamper-evident: the anchor holds the version its receipt names', async () => {
    const run = await anchoredRun(bucket);
    const { report, anchor } = await verifyOnline(run);
    expect(report).toMatchObject({ valid: true, verdict: 'verified', claim: 'tamper-evident' });
    expect(anchor.status).toBe('pass');
    expect(anchor.detail).toContain(`${run.verifierAnchor.name} (external-immutable) holds it at ${run.receipt.location}`);
  });

  test('attack: delete the anchored version, shorten its retention: S3 refuses both (403), and the bundle stays tamper-evident', async () => {
    const run = await anchoredRun(bucket);
    const named = parseReceiptLocation(run.receipt.location)!;
    const attacks = [
      () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: named.key, VersionId: named.versionId })),
      () =>
        client.send(
          new PutObjectRetentionCommand({
            Bucket: bucket,
            Key: named.key,
            VersionId: named.versionId,
            Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
          }),
        ),
    ];
    for (const attack of attacks) {
      const refused = await attack().then(
        () => undefined,
        (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
      );
      expect(refused).toBe(403);
    }
    expect((await verifyOnline(run)).report).toMatchObject({ valid: true, claim: 'tamper-evident' });
  });

  test('attack: overwrite the key with a new version of another root: the anchor check fails, naming the forged version', async () => {
    const run = await anchoredRun(bucket);
    const named = parseReceiptLocation(run.receipt.location)!;
    const anchored = await client.send(new GetObjectCommand({ Bucket: bucket, Key: named.key, VersionId: named.versionId }));
    await anchored.Body!.transformToByteArray();
    const forged = await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: named.key,
        Body: 'a rewritten history',
        // A careful forger: its record is consistent with its own bytes, only the root differs.
        Metadata: { ...anchored.Metadata, 'cairn-root-hash': 'f'.repeat(64), 'cairn-envelope-digest': sha256Digest('a rewritten history') },
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: new Date(Date.now() + 2 * 86_400_000),
      }),
    );
    const { report, anchor } = await verifyOnline(run);
    expect(report).toMatchObject({ valid: false, verdict: 'failed', claim: 'tamper-detecting' });
    expect(anchor.status).toBe('fail');
    expect(anchor.detail).toContain(run.verifierAnchor.name);
    expect(anchor.detail).toContain(forged.VersionId!);
    expect(anchor.detail).toContain('different roots');
    // Stripping the receipt does not help: the key is read by tree head and every version checked.
    const stripped = await verifyOnline(run, { ...run.bundle, anchors: [] });
    expect(stripped.anchor).toMatchObject({ status: 'fail', detail: expect.stringContaining(forged.VersionId!) });
  });

  test("attack: swap the receipt's version id (re-signed by the log key): the anchor check fails, naming the swapped version id", async () => {
    const run = await anchoredRun(bucket);
    const named = parseReceiptLocation(run.receipt.location)!;
    const swapped = { ...run.receipt, location: receiptLocation(bucket, named.key, 'SwappedVersionId00000000000000') };
    const { report, anchor } = await verifyOnline(run, await withReceipt(run, swapped));
    expect(report).toMatchObject({ valid: false, verdict: 'failed' });
    expect(anchor.status).toBe('fail');
    expect(anchor.detail).toContain(`named by the receipt ${swapped.location}`);
    expect(anchor.detail).toContain('swapped version id');
  });

  test("a receipt naming another bucket is not this anchor's: it is never read, and the anchor is read by tree head", async () => {
    const run = await anchoredRun(bucket);
    const named = parseReceiptLocation(run.receipt.location)!;
    const elsewhere = { ...run.receipt, location: receiptLocation('attacker-bucket', named.key, named.versionId) };
    const { report, anchor } = await verifyOnline(run, await withReceipt(run, elsewhere));
    expect(report).toMatchObject({ valid: true, claim: 'tamper-evident' });
    expect(anchor.detail).toContain(run.receipt.location);
    expect(anchor.detail).not.toContain('attacker-bucket');
  });
});
