import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { AnchorCheckpoint, AnchorReceipt } from '@cairn/core';
import { describeAuditAnchor } from '@cairn/conformance';
import { isCairnError, type CairnError } from '@cairn/protocol';
import { beforeAll, describe, expect, test } from 'vitest';
import { createTestBucket, radosgwClient, radosgwConnection } from '../testing/radosgw-connection.ts';
import { anchorObjectKey } from './anchor-object-key.ts';
import { parseReceiptLocation, receiptLocation } from './receipt-location.ts';
import { createS3ObjectLockAnchor, type S3ObjectLockAnchorSettings } from './s3-object-lock-anchor.ts';

const client = radosgwClient();
const connection = radosgwConnection();
let lockedBucket: Promise<string> | undefined;
/** One Object Lock bucket for this file; each anchor gets a prefix of its own in it. */
const sharedLockedBucket = () => (lockedBucket ??= createTestBucket(client, { objectLock: true }));

function settingsFor(bucket: string, extra: Partial<S3ObjectLockAnchorSettings> = {}): S3ObjectLockAnchorSettings {
  return { bucket, prefix: `anchor-${randomBytes(4).toString('hex')}/`, client, retentionDays: 1, ...extra };
}

async function rejection(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    return error as CairnError;
  }
  throw new Error('expected a rejection, but it resolved');
}

async function s3Rejection(send: Promise<unknown>): Promise<{ name?: string; $metadata?: { httpStatusCode?: number } }> {
  try {
    await send;
  } catch (error) {
    return error as { name?: string; $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected S3 to refuse the request, but it was accepted');
}

describeAuditAnchor({
  name: 'S3 Object Lock anchor (radosgw)',
  create: async () => createS3ObjectLockAnchor(settingsFor(await sharedLockedBucket())),
  // A raw client on the bucket. The receipt's location is one VERSION: to replace its bytes an
  // attacker must remove that version (a newer version under the key leaves it in place, and is
  // covered by the attack tests below), and Object Lock in COMPLIANCE mode refuses the removal.
  oracle: (anchor) => ({
    readRaw: async (location) => {
      const named = parseReceiptLocation(location);
      if (named === undefined || named.bucket !== anchor.settings.bucket) return null;
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: named.bucket, Key: named.key, VersionId: named.versionId }));
        return await object.Body!.transformToByteArray();
      } catch (error) {
        if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
        throw error;
      }
    },
    writeRaw: async (location, bytes) => {
      const named = parseReceiptLocation(location)!;
      await client.send(new DeleteObjectCommand({ Bucket: named.bucket, Key: named.key, VersionId: named.versionId }));
      await client.send(new PutObjectCommand({ Bucket: named.bucket, Key: named.key, Body: bytes }));
    },
  }),
  timeoutMs: 30_000,
});

const origin = 'cairn:test.server';

function checkpoint(treeSize: number, salt = '', signature = 'AA=='): AnchorCheckpoint {
  const rootHash = createHash('sha256').update(`root ${treeSize} ${salt}`).digest('hex');
  return { origin, treeSize, rootHash, envelope: new TextEncoder().encode(`{"payload":"${treeSize} ${salt}","sig":"${signature}"}`) };
}

const referenceOf = ({ origin, treeSize, rootHash }: AnchorCheckpoint) => ({ origin, treeSize, rootHash });

/** The metadata the anchor wrote on the anchored version, as an attacker copying it would read it. */
async function anchoredMetadata(receipt: AnchorReceipt): Promise<Record<string, string>> {
  const named = parseReceiptLocation(receipt.location)!;
  const object = await client.send(new GetObjectCommand({ Bucket: named.bucket, Key: named.key, VersionId: named.versionId }));
  await object.Body!.transformToByteArray();
  return object.Metadata ?? {};
}

/** Writes a new version under the anchored key, as anyone with PutObject can, locked as long as the anchor's record says. */
async function forgeVersion(receipt: AnchorReceipt, body: string, metadata: Record<string, string>, locked = true): Promise<string> {
  const named = parseReceiptLocation(receipt.location)!;
  const written = await client.send(
    new PutObjectCommand({
      Bucket: named.bucket,
      Key: named.key,
      Body: body,
      Metadata: metadata,
      ...(locked ? { ObjectLockMode: 'COMPLIANCE' as const, ObjectLockRetainUntilDate: new Date(Date.parse(receipt.retainUntil!) + 1000) } : {}),
    }),
  );
  return written.VersionId!;
}

describe('S3ObjectLockAnchor', () => {
  let bucket: string;
  beforeAll(async () => {
    bucket = await sharedLockedBucket();
  });

  test.each([
    [{ bucket: 'b'.repeat(3) }, 's3.anchor.retentionDays'],
    [{ bucket: 'abc', retentionDays: 0 }, 's3.anchor.retentionDays'],
    [{ bucket: 'abc', retentionDays: 36_501 }, 's3.anchor.retentionDays'],
    [{ bucket: 'abc', retentionDays: 1.5 }, 's3.anchor.retentionDays'],
    [{ bucket: 'Not_A_Bucket', retentionDays: 1 }, 's3.anchor.bucket'],
    [{ bucket: 'abc', retentionDays: 1, prefix: '/cairn' }, 's3.anchor.prefix'],
    [{ bucket: 'abc', retentionDays: 1, mode: 'GOVERNANCE' }, 's3.anchor.mode'],
  ])('settings %j are refused with CAIRN_CONFIG_INVALID naming %s', (settings, path) => {
    let thrown: unknown;
    try {
      createS3ObjectLockAnchor(settings as never);
    } catch (error) {
      thrown = error;
    }
    expect(isCairnError(thrown, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect((thrown as CairnError).message).toContain(path);
  });

  test('declares the s3-object-lock provider, the external-immutable guarantee, and a name for verifier reports', () => {
    const anchor = createS3ObjectLockAnchor({ bucket: 'acme-cairn', prefix: 'anchor', retentionDays: 30, client });
    expect([anchor.provider, anchor.guarantee, anchor.name]).toEqual(['s3-object-lock', 'external-immutable', 's3-object-lock:s3://acme-cairn/anchor/']);
  });

  test('probe accepts a bucket with Object Lock and refuses one without, saying to create a new bucket with it', async () => {
    const anchor = createS3ObjectLockAnchor(settingsFor(bucket, { retentionDays: 7 }));
    expect(await anchor.probe()).toMatchObject({ objectLock: 'Enabled', versioning: 'Enabled', retentionDays: 7 });
    const plain = await createTestBucket(client);
    const error = await rejection(createS3ObjectLockAnchor(settingsFor(plain)).probe());
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect(error.path).toBe('s3.anchor.bucket');
    expect(error.message).toContain(plain);
    expect(error.message).toContain('create a new bucket with Object Lock enabled');
  });

  test('probe of a bucket that does not exist is CAIRN_ANCHOR_UNAVAILABLE naming the fix', async () => {
    const error = await rejection(createS3ObjectLockAnchor(settingsFor('cairn-test-no-such-bucket', { maxAttempts: 1 })).probe());
    expect(isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE')).toBe(true);
    expect(error.message).toContain('NoSuchBucket');
  });

  test('writes each checkpoint as a COMPLIANCE-locked version under <prefix><origin>/<tree size>.dsse; the receipt names the version and its retain-until', async () => {
    const settings = settingsFor(bucket, { retentionDays: 2 });
    const anchor = createS3ObjectLockAnchor(settings);
    const before = Date.now();
    const receipt = await anchor.anchor(checkpoint(7));
    const named = parseReceiptLocation(receipt.location)!;
    expect(named.key).toBe(`${settings.prefix}cairn%3Atest%2Eserver/00000000000000000007.dsse`);
    expect(named.key).toBe(anchorObjectKey(settings.prefix!, origin, 7));
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: named.key, VersionId: named.versionId }));
    expect(object.ObjectLockMode).toBe('COMPLIANCE');
    expect(object.ObjectLockRetainUntilDate?.toISOString()).toBe(receipt.retainUntil);
    const days = (Date.parse(receipt.retainUntil!) - before) / 86_400_000;
    expect(days).toBeGreaterThanOrEqual(2);
    expect(days).toBeLessThan(2.01);
    expect(receipt.location).toBe(receiptLocation(bucket, named.key, object.VersionId!));
  });

  describe('attacks on the anchor, each refused by S3 or detected by read', () => {
    test('delete the anchored version: S3 refuses (403), and the anchor still reads it; a delete marker hides nothing', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(1);
      const receipt = await anchor.anchor(value);
      const named = parseReceiptLocation(receipt.location)!;
      const refused = await s3Rejection(client.send(new DeleteObjectCommand({ Bucket: bucket, Key: named.key, VersionId: named.versionId })));
      expect(refused.$metadata?.httpStatusCode).toBe(403);
      // A plain delete only adds a delete marker on top: the locked version is read by its id.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: named.key }));
      const read = await anchor.read(referenceOf(value), receipt);
      expect(Buffer.from(read!.envelope).equals(Buffer.from(value.envelope))).toBe(true);
      expect(read!.receipt).toEqual(receipt);
      expect((await anchor.read(referenceOf(value)))?.receipt).toEqual(receipt);
    });

    test('shorten the retention: S3 refuses (403), and the lock reads back unchanged', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(2);
      const receipt = await anchor.anchor(value);
      const named = parseReceiptLocation(receipt.location)!;
      for (const bypass of [false, true]) {
        const refused = await s3Rejection(
          client.send(
            new PutObjectRetentionCommand({
              Bucket: bucket,
              Key: named.key,
              VersionId: named.versionId,
              Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
              BypassGovernanceRetention: bypass,
            }),
          ),
        );
        expect(refused.$metadata?.httpStatusCode).toBe(403);
      }
      const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: named.key, VersionId: named.versionId }));
      expect(object.ObjectLockRetainUntilDate?.toISOString()).toBe(receipt.retainUntil);
      expect((await anchor.read(referenceOf(value), receipt))?.receipt).toEqual(receipt);
    });

    test('overwrite the key with a new version of another root: read throws CAIRN_ANCHOR_TAMPERED naming the forged version, with or without the receipt', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(3);
      const receipt = await anchor.anchor(value);
      const forged = checkpoint(3, 'forged');
      const metadata = {
        ...(await anchoredMetadata(receipt)),
        'cairn-root-hash': forged.rootHash,
        'cairn-envelope-digest': `sha256:${createHash('sha256').update('forged').digest('hex')}`,
      };
      const forgedVersion = await forgeVersion(receipt, 'forged', metadata);
      for (const read of [() => anchor.read(referenceOf(value)), () => anchor.read(referenceOf(value), receipt), () => anchor.read(referenceOf(forged))]) {
        const error = await rejection(read());
        expect(isCairnError(error, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
        expect(error.message).toContain(forgedVersion);
        expect(error.message).toContain('different roots');
        expect((error.details as { versionIds: string[] }).versionIds).toContain(forgedVersion);
      }
      // Anchoring again is refused too: the key no longer holds one tree head.
      expect((await rejection(anchor.anchor(value))).code).toBe('CAIRN_ANCHOR_CONFLICT');
    });

    test('overwrite the key with a new version that is not locked, or carries no anchor record: CAIRN_ANCHOR_TAMPERED naming it', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const unlocked = checkpoint(4);
      const unlockedReceipt = await anchor.anchor(unlocked);
      const unlockedVersion = await forgeVersion(unlockedReceipt, new TextDecoder().decode(unlocked.envelope), await anchoredMetadata(unlockedReceipt), false);
      const notLocked = await rejection(anchor.read(referenceOf(unlocked)));
      expect(isCairnError(notLocked, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(notLocked.message).toContain(`version ${unlockedVersion} is not locked`);

      const bare = checkpoint(5);
      const bareReceipt = await anchor.anchor(bare);
      const bareVersion = await forgeVersion(bareReceipt, 'no record', {});
      const noRecord = await rejection(anchor.read(referenceOf(bare), bareReceipt));
      expect(isCairnError(noRecord, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(noRecord.message).toContain(`version ${bareVersion} carries no valid anchor record`);
    });

    test('a newer version of the same tree head with other bytes is never read as the anchored one', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(6);
      const receipt = await anchor.anchor(value);
      const other = 'another envelope of the same tree head';
      const metadata = { ...(await anchoredMetadata(receipt)), 'cairn-envelope-digest': `sha256:${createHash('sha256').update(other).digest('hex')}` };
      await forgeVersion(receipt, other, metadata);
      for (const read of [await anchor.read(referenceOf(value)), await anchor.read(referenceOf(value), receipt)]) {
        expect(Buffer.from(read!.envelope).equals(Buffer.from(value.envelope))).toBe(true);
        expect(read!.receipt).toEqual(receipt);
      }
      expect(await anchor.anchor(checkpoint(6, '', 'cmUtc2lnbmVk')), 'anchoring again returns the anchored (oldest) receipt').toEqual(receipt);
    });

    test('swap the receipt’s version id: read with that receipt throws CAIRN_ANCHOR_TAMPERED naming it', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(8);
      const receipt = await anchor.anchor(value);
      const named = parseReceiptLocation(receipt.location)!;
      // To a version id the key does not hold.
      const missing = { ...receipt, location: receiptLocation(bucket, named.key, 'NotAVersionOfThisKey0000000000') };
      const notThere = await rejection(anchor.read(referenceOf(value), missing));
      expect(isCairnError(notThere, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(notThere.message).toContain('NotAVersionOfThisKey0000000000');
      expect(notThere.message).toContain('swapped version id');
      // To a newer version of the same tree head (other bytes): the receipt's digest does not match it.
      const other = 'a re-signed envelope written later';
      const forgedVersion = await forgeVersion(receipt, other, {
        ...(await anchoredMetadata(receipt)),
        'cairn-envelope-digest': `sha256:${createHash('sha256').update(other).digest('hex')}`,
      });
      const swapped = { ...receipt, location: receiptLocation(bucket, named.key, forgedVersion) };
      const wrongBytes = await rejection(anchor.read(referenceOf(value), swapped));
      expect(isCairnError(wrongBytes, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(wrongBytes.message).toContain(forgedVersion);
      expect(wrongBytes.message).toContain(receipt.envelopeDigest);
      // The untouched receipt still reads.
      expect((await anchor.read(referenceOf(value), receipt))?.receipt).toEqual(receipt);
    });

    test('a receipt claiming a later retain-until than the live lock, or naming another key or bucket, is refused', async () => {
      const anchor = createS3ObjectLockAnchor(settingsFor(bucket));
      const value = checkpoint(9);
      const receipt = await anchor.anchor(value);
      const named = parseReceiptLocation(receipt.location)!;
      const later = await rejection(anchor.read(referenceOf(value), { ...receipt, retainUntil: new Date(Date.now() + 10 * 86_400_000).toISOString() }));
      expect(isCairnError(later, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(later.message).toContain('earlier than the receipt');
      const elsewhere = await rejection(
        anchor.read(referenceOf(value), { ...receipt, location: receiptLocation('another-bucket', named.key, named.versionId) }),
      );
      expect(isCairnError(elsewhere, 'CAIRN_ANCHOR_TAMPERED')).toBe(true);
      expect(elsewhere.message).toContain('not this tree head');
      const { retainUntil: _dropped, ...withoutRetention } = receipt;
      expect((await rejection(anchor.read(referenceOf(value), withoutRetention))).code).toBe('CAIRN_ANCHOR_TAMPERED');
    });
  });

  test('isOwnReceipt: a receipt of this kind inside this bucket and prefix', async () => {
    const settings = settingsFor(bucket);
    const anchor = createS3ObjectLockAnchor(settings);
    const receipt = await anchor.anchor(checkpoint(11));
    const named = parseReceiptLocation(receipt.location)!;
    expect(anchor.isOwnReceipt(receipt)).toBe(true);
    expect(anchor.isOwnReceipt({ ...receipt, anchor: 'file' })).toBe(false);
    expect(anchor.isOwnReceipt({ ...receipt, location: receiptLocation('other-bucket', named.key, named.versionId) })).toBe(false);
    expect(anchor.isOwnReceipt({ ...receipt, location: receiptLocation(bucket, `elsewhere/${named.key}`, named.versionId) })).toBe(false);
    expect(anchor.isOwnReceipt({ ...receipt, location: `s3://${bucket}/${named.key}` })).toBe(false);
  });

  test('two anchors (two processes) racing one tree head: both succeed, every receipt reads, and reads agree on the anchored version', async () => {
    const settings = settingsFor(bucket);
    const [left, right] = [createS3ObjectLockAnchor(settings), createS3ObjectLockAnchor(settings)];
    const value = checkpoint(12);
    const receipts = await Promise.all([left.anchor(value), right.anchor(checkpoint(12, '', 'BB=='))]);
    for (const receipt of receipts) expect((await left.read(referenceOf(value), receipt))?.receipt).toEqual(receipt);
    expect((await left.read(referenceOf(value)))?.receipt).toEqual((await right.read(referenceOf(value)))?.receipt);
  });

  test('two anchors (two processes) racing different roots at one tree size: never both anchored, and a key left holding both reads as tampered', async () => {
    const settings = settingsFor(bucket);
    const contenders = [checkpoint(13, 'left'), checkpoint(13, 'right')];
    const settled = await Promise.allSettled(contenders.map((value) => createS3ObjectLockAnchor(settings).anchor(value)));
    expect(settled.filter((result) => result.status === 'fulfilled').length).toBeLessThanOrEqual(1);
    for (const result of settled) if (result.status === 'rejected') expect(isCairnError(result.reason, 'CAIRN_ANCHOR_CONFLICT')).toBe(true);
    const key = anchorObjectKey(settings.prefix!, origin, 13);
    const versions = (await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }))).Versions ?? [];
    const reader = createS3ObjectLockAnchor(settings);
    if (versions.length > 1) {
      expect((await rejection(reader.read(referenceOf(contenders[0]!)))).code).toBe('CAIRN_ANCHOR_TAMPERED');
    } else {
      const winner = settled.findIndex((result) => result.status === 'fulfilled');
      expect(Buffer.from((await reader.read(referenceOf(contenders[winner]!)))!.envelope).equals(Buffer.from(contenders[winner]!.envelope))).toBe(true);
    }
  });

  test('an outage is CAIRN_ANCHOR_UNAVAILABLE naming the endpoint (the engine keeps the checkpoint queued)', async () => {
    const down = createS3ObjectLockAnchor({
      bucket,
      endpoint: 'http://127.0.0.1:1',
      region: connection.region,
      forcePathStyle: true,
      maxAttempts: 2,
      requestTimeoutMs: 1_000,
      retentionDays: 1,
    });
    for (const attempt of [down.anchor(checkpoint(14)), down.read(referenceOf(checkpoint(14))), down.probe()]) {
      const error = await rejection(attempt);
      expect(isCairnError(error, 'CAIRN_ANCHOR_UNAVAILABLE')).toBe(true);
      expect(error.message).toContain('http://127.0.0.1:1');
    }
  });

  test('a bucket without Object Lock refuses the locked write: the anchoring fails with CAIRN_CONFIG_INVALID naming s3.anchor.bucket, and nothing is anchored', async () => {
    const plain = await createTestBucket(client);
    const anchor = createS3ObjectLockAnchor(settingsFor(plain, { maxAttempts: 1 }));
    const error = await rejection(anchor.anchor(checkpoint(15)));
    expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
    expect(error.path).toBe('s3.anchor.bucket');
    expect(error.message).toContain('has no Object Lock');
    expect(await anchor.read(referenceOf(checkpoint(15)))).toBeNull();
  });
});

export type { S3Client };
