// The anchors a verifier reads come from its own table: a `file` anchor is read live at the
// directory the verifier names, by the checkpoint's tree head (never where a receipt points),
// with the `detect` guarantee whatever its receipts declare; a kind it does not know is refused.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalAuditAnchor } from '@cairn/local';
import { isCairnError } from '@cairn/protocol';
import { createS3ObjectLockAnchor } from '@cairn/s3';
import { afterEach, expect, test, vi } from 'vitest';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { parseS3AnchorLocation } from './s3-anchor-location.ts';
import { s3ObjectLockAnchor, trustedAnchorOf } from './verifier-anchors.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('a file anchor is read by tree head at the named directory, as detect; a removed directory holds nothing and stays removed', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-verifier-anchor-'));
  directories.push(directory);
  const anchorDirectory = join(directory, 'anchor');
  const envelope = new TextEncoder().encode('{"payload":"checkpoint"}');
  const reference = { origin: 'cairn:test', treeSize: 3, rootHash: 'a'.repeat(64) };
  await createLocalAuditAnchor({ directory: anchorDirectory }).anchor({ ...reference, envelope });
  const anchor = trustedAnchorOf(`file:${anchorDirectory}`, '--anchor');
  expect(anchor).toMatchObject({ name: `file:${anchorDirectory}`, guarantee: 'detect' });
  const read = await anchor.read(reference);
  expect(read && Buffer.from(read.envelope).toString('utf8')).toBe('{"payload":"checkpoint"}');
  // Another root at that size: the anchor holds no such checkpoint.
  expect(await anchor.read({ ...reference, rootHash: 'b'.repeat(64) })).toBeNull();
  rmSync(anchorDirectory, { recursive: true });
  expect(await anchor.read(reference)).toBeNull();
  expect(existsSync(anchorDirectory)).toBe(false);
});

test('an anchor kind the verifier does not know, or no location, is bad input naming what it reads', () => {
  for (const [specification, message] of [
    ['gcs-retention:gs://bucket/key', /cannot read \('gcs-retention'; it reads: file, s3-object-lock\)/],
    ['file:', /names no location/],
    ['toString:x', /cannot read \('toString'/],
  ] as const) {
    const error = (() => {
      try {
        return trustedAnchorOf(specification, '--anchor');
      } catch (caught) {
        return caught;
      }
    })();
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
    expect((error as Error).message).toMatch(message);
  }
});

test('s3-object-lock:s3://BUCKET/PREFIX?endpoint=&region=&forcePathStyle= is parsed; every bad form is bad input naming the option and the form', () => {
  expect(parseS3AnchorLocation('s3://acme-anchor/cairn?endpoint=http://127.0.0.1:7480&region=us-east-1&forcePathStyle=true', '--anchor')).toEqual({
    bucket: 'acme-anchor',
    prefix: 'cairn/',
    endpoint: 'http://127.0.0.1:7480',
    region: 'us-east-1',
    forcePathStyle: true,
  });
  expect(parseS3AnchorLocation('s3://acme-anchor', '--anchor')).toEqual({ bucket: 'acme-anchor', prefix: '', forcePathStyle: false });
  expect(trustedAnchorOf('s3-object-lock:s3://acme-anchor/a/b/', '--anchor')).toMatchObject({
    name: 's3-object-lock:s3://acme-anchor/a/b/',
    guarantee: 'external-immutable',
  });
  for (const [specification, message] of [
    ['s3-object-lock:acme-anchor/cairn', /must be an s3:\/\/ location/],
    ['s3-object-lock:s3://Acme_Anchor/cairn', /names no valid bucket/],
    ['s3-object-lock:s3://acme-anchor/?endpoint=ftp://x', /endpoint that is not an http\(s\) URL/],
    ['s3-object-lock:s3://acme-anchor/?forcePathStyle=yes', /forcePathStyle="yes" \(write true or false\)/],
    ['s3-object-lock:s3://acme-anchor/?retention=3', /unknown parameter "retention" \(known: endpoint, region, forcePathStyle\)/],
    ['s3-object-lock:s3://acme-anchor/?region=a&region=b', /gives region twice/],
    ['s3-object-lock:', /names no location/],
  ] as const) {
    let error: unknown;
    try {
      trustedAnchorOf(specification, '--anchor');
    } catch (caught) {
      error = caught;
    }
    expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID'), specification).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as { path: string }).path).toBe('--anchor');
  }
});

test('an s3-object-lock anchor is read live at the bucket it names, as external-immutable, and claims only receipts inside its own bucket and prefix', async () => {
  const connection = radosgwConnection();
  for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
  const client = radosgwClient();
  const bucket = await createTestBucket(client, { objectLock: true });
  const writer = createS3ObjectLockAnchor({
    bucket,
    prefix: 'checkpoints/',
    endpoint: connection.endpoint,
    region: connection.region,
    forcePathStyle: true,
    retentionDays: 1,
    client,
  });
  const reference = { origin: 'cairn:verifier-test', treeSize: 5, rootHash: 'c'.repeat(64) };
  const receipt = await writer.anchor({ ...reference, envelope: new TextEncoder().encode('{"payload":"checkpoint five"}') });

  const specification = `s3://${bucket}/checkpoints?endpoint=${connection.endpoint}&region=${connection.region}&forcePathStyle=true`;
  expect(trustedAnchorOf(`s3-object-lock:${specification}`, '--anchor')).toMatchObject({ guarantee: 'external-immutable' });
  const anchor = s3ObjectLockAnchor(parseS3AnchorLocation(specification, '--anchor'));
  expect(anchor.guarantee).toBe('external-immutable');
  const read = await anchor.read(reference, receipt);
  expect(read && new TextDecoder().decode(read.envelope)).toBe('{"payload":"checkpoint five"}');
  expect(await anchor.read({ ...reference, treeSize: 6 })).toBeNull();
  const own = anchor.isOwnReceipt;
  expect(own(receipt)).toBe(true);
  expect(own({ ...receipt, location: receipt.location.replace(`s3://${bucket}/`, 's3://other-bucket/') })).toBe(false);
  expect(own({ ...receipt, location: receipt.location.replace('/checkpoints/', '/elsewhere/') })).toBe(false);
  expect(own({ ...receipt, anchor: 'local' })).toBe(false);
  vi.unstubAllEnvs();
});
