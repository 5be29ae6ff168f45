// `cairn doctor` on S3 configs, against the real test S3 server: each check says what it found
// and, when it fails, what to do; it never reports a check it could not run as passed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3ObjectLockAnchor } from '@cairn/s3';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadServerConfig } from '../config/load-server-config.ts';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import type { Diagnosis } from './diagnose-server.ts';
import { diagnoseServer } from './diagnose-server.ts';
import { initServer } from './init-server.ts';

const directories: string[] = [];
beforeEach(() => {
  for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
});
afterEach(() => {
  vi.unstubAllEnvs();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A server `cairn init` made, with `change` applied to its config. */
async function serverWith(change: (config: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-doctor-s3-'));
  directories.push(directory);
  await initServer(directory);
  const file = join(directory, 'cairn.config.yaml');
  writeFileSync(file, stringifyYaml(change(parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>)));
  return directory;
}

const byCheck = (findings: Diagnosis[]) => Object.fromEntries(findings.map((finding) => [finding.check, finding]));
const s3Options = () => ({ endpoint: radosgwConnection().endpoint, region: radosgwConnection().region, forcePathStyle: true });

test(
  'an anchor bucket without Object Lock fails its object lock check with the fix; versioning too; nothing is claimed about a retention',
  { timeout: 60_000 },
  async () => {
    const bucket = await createTestBucket(radosgwClient());
    const directory = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      anchors: [{ kind: 'local' }, { kind: 's3-object-lock', bucket, prefix: 'cairn/', retentionDays: 1, ...s3Options() }],
    }));
    const findings = byCheck(await diagnoseServer(loadServerConfig({ directory, env: {} })));
    expect(findings['anchors[1] bucket']).toMatchObject({ ok: true, detail: `s3://${bucket}/cairn/ at ${radosgwConnection().endpoint} answers` });
    expect(findings['anchors[1] object lock']).toMatchObject({ ok: false, detail: expect.stringContaining(`Object Lock is not enabled on ${bucket}`) });
    expect(findings['anchors[1] object lock']!.fix).toMatch(
      /bucket created with Object Lock enabled \(aws s3api create-bucket --object-lock-enabled-for-bucket\)/,
    );
    expect(findings['anchors[1] versioning']).toMatchObject({ ok: false, fix: expect.stringContaining('put-bucket-versioning') });
    expect(findings['anchors[1] retention']).toBeUndefined();
  },
);

test(
  'an Object Lock anchor bucket passes; its retention is checked on an anchored checkpoint, and reported unchecked while there is none',
  { timeout: 60_000 },
  async () => {
    const client = radosgwClient();
    const bucket = await createTestBucket(client, { objectLock: true });
    const directory = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      anchors: [{ kind: 's3-object-lock', bucket, prefix: 'cairn/', retentionDays: 2, ...s3Options() }],
    }));
    let findings = byCheck(await diagnoseServer(loadServerConfig({ directory, env: {} })));
    expect(findings['anchors[0] object lock']).toMatchObject({ ok: true });
    expect(findings['anchors[0] versioning']).toMatchObject({ ok: true });
    expect(findings['anchors[0] retention']).toMatchObject({ ok: true, detail: expect.stringMatching(/^not checked: nothing is anchored/) });

    await createS3ObjectLockAnchor({ bucket, prefix: 'cairn/', retentionDays: 2, client, ...s3Options() }).anchor({
      origin: 'cairn:doctor',
      treeSize: 1,
      rootHash: 'd'.repeat(64),
      envelope: new TextEncoder().encode('{}'),
    });
    findings = byCheck(await diagnoseServer(loadServerConfig({ directory, env: {} })));
    expect(findings['anchors[0] retention']).toMatchObject({ ok: true, detail: expect.stringMatching(/is locked COMPLIANCE until 20\d\d-/) });

    // A version written under the prefix without a lock (another writer) fails the check.
    const other = await createTestBucket(client, { objectLock: true });
    await client.send(new PutObjectCommand({ Bucket: other, Key: 'cairn/unlocked.dsse', Body: '{}' }));
    const unlocked = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      anchors: [{ kind: 's3-object-lock', bucket: other, prefix: 'cairn/', retentionDays: 2, ...s3Options() }],
    }));
    findings = byCheck(await diagnoseServer(loadServerConfig({ directory: unlocked, env: {} })));
    expect(findings['anchors[0] retention']).toMatchObject({
      ok: false,
      detail: expect.stringContaining('is not locked'),
      fix: expect.stringContaining('COMPLIANCE'),
    });
  },
);

test(
  'a wrong endpoint: the anchor bucket is unreachable, with the fix naming the option, and no later check claims anything',
  { timeout: 60_000 },
  async () => {
    const directory = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      anchors: [
        {
          kind: 's3-object-lock',
          bucket: 'nowhere-bucket',
          prefix: '',
          retentionDays: 1,
          endpoint: 'http://127.0.0.1:9',
          region: 'us-east-1',
          forcePathStyle: true,
        },
      ],
    }));
    const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
    const checks = byCheck(findings);
    expect(checks['anchors[0] bucket']).toMatchObject({ ok: false, detail: expect.stringContaining('s3://nowhere-bucket/ at http://127.0.0.1:9: no answer') });
    expect(checks['anchors[0] bucket']!.fix).toMatch(/check anchors\[0\]\.endpoint \(and anchors\[0\]\.region\), that this machine can reach it/);
    expect(findings.filter((finding) => finding.check.startsWith('anchors[0]')).map((finding) => finding.check)).toEqual(['anchors[0] bucket']);
  },
);

test(
  'S3 storage: an unversioned bucket passes conditional writes and the round trip; encryption is named from the setting; a versioned one fails conditional writes with its fix',
  { timeout: 60_000 },
  async () => {
    const client = radosgwClient();
    const bucket = await createTestBucket(client);
    const directory = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      storage: { kind: 's3', bucket, prefix: 'cairn/', encryption: { kind: 'sse-kms', keyId: radosgwConnection().kmsKeyId }, ...s3Options() },
    }));
    let findings = byCheck(await diagnoseServer(loadServerConfig({ directory, env: {} })));
    expect(findings['storage bucket']).toMatchObject({ ok: true });
    expect(findings['conditional writes']).toMatchObject({ ok: true, detail: expect.stringContaining('is refused (412)') });
    expect(findings['storage encryption']).toMatchObject({
      ok: true,
      detail: expect.stringContaining(`SSE-KMS, key ${radosgwConnection().kmsKeyId} (storage.encryption)`),
    });
    expect(findings['storage']).toMatchObject({
      ok: true,
      detail: `s3://${bucket}/cairn/ at ${radosgwConnection().endpoint}: a blob written, read back and removed`,
    });

    // Without a setting and without a bucket default, objects may be stored unencrypted: said, with the fix.
    const plain = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      storage: { kind: 's3', bucket, prefix: 'plain/', ...s3Options() },
    }));
    findings = byCheck(await diagnoseServer(loadServerConfig({ directory: plain, env: {} })));
    expect(findings['storage encryption']).toMatchObject({ ok: false, fix: expect.stringContaining('set storage.encryption') });

    const versioned = await createTestBucket(client, { objectLock: true });
    const refused = await serverWith((config) => ({
      ...config,
      executor: { sandbox: 'none' },
      storage: { kind: 's3', bucket: versioned, prefix: 'cairn/', ...s3Options() },
    }));
    findings = byCheck(await diagnoseServer(loadServerConfig({ directory: refused, env: {} })));
    expect(findings['storage bucket']).toMatchObject({ ok: true });
    expect(findings['conditional writes']).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^CAIRN_STORAGE_UNSUPPORTED: /),
      fix: expect.stringContaining('use an unversioned bucket'),
    });
  },
);

test('S3 storage at a wrong endpoint: unreachable, with the fix naming storage.endpoint; nothing after it is claimed', { timeout: 60_000 }, async () => {
  const directory = await serverWith((config) => ({
    ...config,
    executor: { sandbox: 'none' },
    storage: { kind: 's3', bucket: 'nowhere-bucket', prefix: '', endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true },
  }));
  const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
  const checks = byCheck(findings);
  expect(checks['storage bucket']).toMatchObject({ ok: false, detail: expect.stringContaining('s3://nowhere-bucket/ at http://127.0.0.1:9: no answer') });
  expect(checks['storage bucket']!.fix).toMatch(/check storage\.endpoint \(and storage\.region\)/);
  expect(findings.map((finding) => finding.check)).not.toContain('conditional writes');
  expect(findings.map((finding) => finding.check)).not.toContain('storage');
  expect(findings.map((finding) => finding.check)).not.toContain('storage encryption');
});
