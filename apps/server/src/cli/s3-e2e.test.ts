// The server on S3, as a user runs it: the built `dist/cli.js` (rebuild first: `pnpm --filter
// @cairn/s3 build && pnpm --filter @cairn/server build`), `cairn init`, a config with S3 storage
// and an S3 Object Lock anchor (credentials only in the AWS_* environment of the spawned server),
// `cairn serve`, the getting-started run submitted with `cairn submit --wait`, its evidence bundle
// exported and verified online as tamper-evident. Then the attacks of someone holding the bucket
// credentials and even the signing key: a swapped receipt version id and a newer version over the
// anchored key are detected and named; deleting the anchored version or shortening its retention is
// refused by S3 itself (403). A bucket that does not enforce conditional writes stops `cairn serve`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectRetentionCommand, PutObjectCommand, PutObjectRetentionCommand } from '@aws-sdk/client-s3';
import type { AnchorReceipt, DsseEnvelope, EvidenceBundleV1 } from '@cairn/core';
import { serializeEvidenceBundle, signReceipt } from '@cairn/audit';
import { createLocalSigner } from '@cairn/local';
import { expect, test } from 'vitest';
import { useBuiltServer } from './built-server.test-support.ts';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';

const { cairn, initialised, serve } = useBuiltServer(radosgwEnvironment);

/** `cairn init` in a fresh directory, its config pointed at S3 storage and an S3 Object Lock anchor. */
async function initialisedOnS3(storageBucket: string, anchorBucket: string): Promise<{ directory: string; keyId: string; token: string }> {
  const { directory, keyId, token } = await initialised();
  const { endpoint, region } = radosgwConnection();
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    file,
    stringifyYaml({
      ...config,
      storage: { kind: 's3', bucket: storageBucket, prefix: 'cairn/', region, endpoint, forcePathStyle: true },
      anchors: [{ kind: 's3-object-lock', bucket: anchorBucket, prefix: 'checkpoints/', region, endpoint, forcePathStyle: true, retentionDays: 1 }],
    }),
  );
  return { directory, keyId, token };
}

/** The getting-started run: an item that writes a file (a patch) and a pure check that applies it. */
function gettingStartedRun(directory: string): { spec: string; workspace: string } {
  const workspace = join(directory, 'my-project');
  mkdirSync(workspace);
  writeFileSync(join(workspace, 'README.md'), '# My project\n');
  const spec = join(directory, 'run.yaml');
  writeFileSync(
    spec,
    [
      'version: 1',
      'name: first-run',
      'items:',
      '  - id: add-notes',
      `    runtime: { kind: command, argv: [/bin/sh, -c, "echo 'Notes from Cairn' > NOTES.md"] }`,
      '  - id: check',
      '    needs: { notes: { from: add-notes, select: patch } }',
      '    apply: [notes]',
      '    runtime: { kind: command, argv: [grep, -q, Cairn, NOTES.md] }',
      '    effect: pure',
      '',
    ].join('\n'),
  );
  return { spec, workspace };
}

const payloadOf = (envelope: DsseEnvelope): AnchorReceipt => JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as AnchorReceipt;

test(
  'cairn serve on S3 storage and an S3 Object Lock anchor runs the getting-started run; its bundle verifies online as tamper-evident; every attack is refused by S3 or detected and named',
  { timeout: 240_000 },
  async () => {
    const client = radosgwClient();
    const storageBucket = await createTestBucket(client);
    const anchorBucket = await createTestBucket(client, { objectLock: true });
    const { directory, keyId, token } = await initialisedOnS3(storageBucket, anchorBucket);
    expect(readFileSync(join(directory, 'cairn.config.yaml'), 'utf8')).not.toMatch(/accessKeyId|secretAccessKey|AWS_/);
    const { base } = await serve(directory);
    const { spec, workspace } = gettingStartedRun(directory);
    const submitted = await cairn(directory, ['--json', 'submit', spec, '--workspace', workspace, '--wait', '--server', base], { CAIRN_TOKEN: token });
    expect(submitted.status, submitted.stderr).toBe(0);
    const { runId, state } = JSON.parse(submitted.stdout) as { runId: string; state: string };
    expect(state).toBe('succeeded');
    const patch = await cairn(directory, ['patch', runId, 'add-notes', '--server', base], { CAIRN_TOKEN: token });
    expect(patch.stdout).toContain('+Notes from Cairn');

    // The run's objects are in the storage bucket, under the prefix, and nowhere on local disk.
    const listed = await client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: storageBucket, Prefix: 'cairn/' }));
    expect((listed.Contents ?? []).length).toBeGreaterThan(3);
    expect(existsSync(join(directory, 'cairn-data', 'storage'))).toBe(false);

    const exported = await cairn(directory, ['audit', 'bundle', runId, '--out', 'run.bundle.json', '--server', base], { CAIRN_TOKEN: token });
    expect(exported.status, exported.stderr).toBe(0);
    const bundleFile = join(directory, 'run.bundle.json');
    const verify = (file: string) => cairn(directory, ['verify', file, '--trusted-key', keyId, '--online']);
    const genuine = await verify(bundleFile);
    expect(genuine.status, genuine.stdout + genuine.stderr).toBe(0);
    expect(genuine.stdout).toMatch(/^valid: true, claim: tamper-evident, verdict: verified/);
    expect(genuine.stdout).toMatch(new RegExp(`pass\\s+anchor\\s+.*s3-object-lock:s3://${anchorBucket}/checkpoints/.*\\(external-immutable\\)`));
    // The whole log, every checkpoint read back from the Object Lock bucket the config names.
    const wholeLog = await cairn(directory, ['audit', 'verify-log', '--online']);
    expect(wholeLog.status, wholeLog.stdout + wholeLog.stderr).toBe(0);
    expect(wholeLog.stdout).toContain('valid: true');
    expect(wholeLog.stdout).toMatch(new RegExp(`anchors read: [1-9]\\d* \\(s3-object-lock:s3://${anchorBucket}/checkpoints/`));
    // The same through --anchor, with the endpoint, region and path style as query parameters, outside the server's folder.
    const { endpoint, region } = radosgwConnection();
    const elsewhere = await cairn(tmpdir(), [
      'verify',
      bundleFile,
      '--trusted-key',
      keyId,
      '--online',
      '--anchor',
      `s3-object-lock:s3://${anchorBucket}/checkpoints/?endpoint=${endpoint}&region=${region}&forcePathStyle=true`,
    ]);
    expect(elsewhere.stdout, elsewhere.stderr).toMatch(/^valid: true, claim: tamper-evident/);

    // The demo run (what `cairn demo` submits: a sample repository, an approval, patches, a reused
    // pure check) against this same running server on S3, from its folder: tamper-evident too.
    const demo = await cairn(directory, ['--json', 'demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    expect(JSON.parse(demo.stdout)).toMatchObject({ state: 'succeeded', againState: 'succeeded', verify: { valid: true, claim: 'tamper-evident' } });

    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as EvidenceBundleV1;
    const receipt = payloadOf(bundle.anchors[0]!);
    const [, key, versionId] = /^s3:\/\/[^/]+\/(.+)\?versionId=(.+)$/.exec(receipt.location)!;
    const anchoredVersion = decodeURIComponent(versionId!);

    // Attack 1: delete the anchored version, or shorten its lock. S3 refuses both (COMPLIANCE).
    const deleted = await client.send(new DeleteObjectCommand({ Bucket: anchorBucket, Key: key, VersionId: anchoredVersion })).then(
      () => 200,
      (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
    );
    expect(deleted).toBe(403);
    const retention = await client.send(new GetObjectRetentionCommand({ Bucket: anchorBucket, Key: key, VersionId: anchoredVersion }));
    expect(retention.Retention?.Mode).toBe('COMPLIANCE');
    const shortened = await client
      .send(
        new PutObjectRetentionCommand({
          Bucket: anchorBucket,
          Key: key,
          VersionId: anchoredVersion,
          Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
        }),
      )
      .then(
        () => 200,
        (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
      );
    expect(shortened).toBe(403);
    expect((await verify(bundleFile)).stdout).toMatch(/^valid: true, claim: tamper-evident/);

    // Attack 2: a receipt re-signed with the server's own key (an insider has it) naming another
    // version id. The anchor holds no such version of the key: detected, and the receipt named.
    const signer = createLocalSigner({ keyFile: join(directory, 'cairn-data', 'keys', 'signing.pem') });
    const swapped = { ...receipt, location: receipt.location.replace(/versionId=.+$/, `versionId=${encodeURIComponent(`${anchoredVersion}x`)}`) };
    const swappedFile = join(directory, 'swapped.bundle.json');
    writeFileSync(swappedFile, serializeEvidenceBundle({ ...bundle, anchors: [await signReceipt(swapped, signer)] }));
    const swappedReport = await verify(swappedFile);
    expect(swappedReport.status).toBe(1);
    expect(swappedReport.stdout).toMatch(/^valid: false, claim: tamper-detecting/);
    expect(swappedReport.stdout).toMatch(/fail\s+anchor\s+.*named by the receipt s3:\/\/.*which is not a version of the key.*a swapped version id/);

    // Attack 3: a newer version written over the anchored key (S3 allows it in a versioned bucket).
    // The anchor checks every version of the key: the genuine bundle now fails, naming the forgery.
    const forged = await client.send(new PutObjectCommand({ Bucket: anchorBucket, Key: key, Body: '{"payload":"a forged checkpoint"}' }));
    const overwritten = await verify(bundleFile);
    expect(overwritten.status).toBe(1);
    expect(overwritten.stdout).toMatch(/^valid: false, claim: tamper-detecting/);
    expect(overwritten.stdout).toMatch(/fail\s+anchor\s+/);
    expect(overwritten.stdout).toContain(forged.VersionId!);
  },
);

test(
  'cairn serve refuses a storage bucket that lets a second if-absent put through (versioned, on this server), exit 3, naming the endpoint and the fix',
  { timeout: 60_000 },
  async () => {
    const client = radosgwClient();
    const versioned = await createTestBucket(client, { objectLock: true });
    const { directory } = await initialisedOnS3(versioned, versioned);
    const refused = await cairn(directory, ['serve'], { CAIRN_PORT: '0' });
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/^CAIRN_STORAGE_UNSUPPORTED: /);
    expect(refused.stderr).toContain(radosgwConnection().endpoint);
    expect(refused.stderr).toContain(versioned);
    // Nothing was left listening, and the data directory is free for the next start.
    expect(existsSync(join(directory, 'cairn-data', 'serve.lock'))).toBe(false);
  },
);
