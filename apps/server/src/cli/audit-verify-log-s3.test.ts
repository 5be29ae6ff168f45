// `cairn audit verify-log --online` on a server whose checkpoints are anchored in an S3 Object Lock
// bucket (the test radosgw): someone holding the server's own S3 rights writes a forged version of
// one anchored checkpoint WITH a COMPLIANCE lock, which nobody can remove before its retention
// ends. That checkpoint fails for the whole retention; the check goes on and reports every later
// checkpoint, including one anchored after the forgery, verified.
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectRetentionCommand, ListObjectVersionsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { AnchorReceipt, DsseEnvelope } from '@cairn/core';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import Database from 'better-sqlite3';
import { afterAll, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { initServer } from './init-server.ts';
import { runCli } from './run-cli.test-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'cairn-verify-log-s3-'));
chmodSync(scratch, 0o711);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Verified {
  valid: boolean;
  checkpointsChecked: number;
  checkpointsFailed: number;
  checkpointsNotChecked: number;
  anchorsRead: number;
  checkpoints: { treeSize?: number; result: string; detail?: string; anchored: boolean; anchorsRead: number }[];
  failure?: { treeSize?: number; detail: string };
}

/** Runs `count` one-item runs through the engine of the server in `directory`, each run's checkpoint anchored at once. */
async function anchoredRuns(directory: string, names: readonly string[]): Promise<void> {
  const composition = await composeServer(loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } }));
  try {
    composition.engine.start();
    for (const name of names) {
      const { runId } = composition.engine.submit(
        { version: 1, name, items: [{ id: 'hello', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hello > hello.txt'] } }] },
        { actor: { kind: 'user', id: 'ana', via: 'cli' } },
      );
      expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
      // Exporting issues and anchors the run's checkpoint now, as `cairn audit bundle` would.
      await composition.engine.exportBundle(runId);
    }
  } finally {
    await composition.close();
  }
}

/** The anchored checkpoints in the server's database, in order, each with the S3 key and version its receipt names. */
function anchoredCheckpoints(directory: string): { treeSize: number; key: string; versionId: string }[] {
  const reader = new Database(join(directory, 'cairn-data', 'cairn.db'), { readonly: true });
  try {
    const rows = reader.prepare('SELECT tree_size AS treeSize, receipts FROM checkpoints WHERE anchored = 1 ORDER BY tree_size').all() as {
      treeSize: number;
      receipts: string;
    }[];
    return rows.map(({ treeSize, receipts }) => {
      const [signed] = JSON.parse(receipts) as DsseEnvelope[];
      const receipt = JSON.parse(Buffer.from(signed!.payload, 'base64').toString('utf8')) as AnchorReceipt;
      const [, key, versionId] = /^s3:\/\/[^/]+\/(.+)\?versionId=(.+)$/.exec(receipt.location)!;
      return { treeSize, key: key!, versionId: decodeURIComponent(versionId!) };
    });
  } finally {
    reader.close();
  }
}

test(
  'a forged version locked in COMPLIANCE beside one anchored checkpoint fails that checkpoint only: verify-log --online lists every checkpoint, and each later one (one anchored after the forgery too) verifies',
  { timeout: 180_000 },
  async () => {
    // The anchor takes its credentials from the SDK's chain, as a server does: here, the environment.
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    const client = radosgwClient();
    const bucket = await createTestBucket(client, { objectLock: true });
    const directory = join(scratch, 'server');
    await initServer(directory);
    const { endpoint, region } = radosgwConnection();
    const file = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      file,
      stringifyYaml({
        ...config,
        anchors: [{ kind: 's3-object-lock', bucket, prefix: 'checkpoints/', region, endpoint, forcePathStyle: true, retentionDays: 1 }],
      }),
    );
    await anchoredRuns(directory, ['first', 'second', 'third']);
    const before = anchoredCheckpoints(directory);
    expect(before.length).toBeGreaterThanOrEqual(3);

    // The forgery, with no more than the server's own rights (PutObject with a COMPLIANCE lock):
    // another root for one anchored tree head, under its key, carrying a well-formed anchor record.
    const forged = before[1]!;
    const body = Buffer.from(JSON.stringify({ payloadType: 'application/vnd.cairn.checkpoint+json', payload: 'forged', signatures: [] }));
    const retainUntil = new Date(Date.now() + 86_400_000);
    const written = await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: forged.key,
        Body: body,
        ContentType: 'application/vnd.dsse.envelope.v1+json',
        Metadata: {
          'cairn-origin': encodeURIComponent('cairn:server'),
          'cairn-tree-size': String(forged.treeSize),
          'cairn-root-hash': 'f'.repeat(64),
          'cairn-envelope-digest': `sha256:${createHash('sha256').update(body).digest('hex')}`,
          'cairn-anchored-at': new Date().toISOString(),
          'cairn-retain-until': retainUntil.toISOString(),
        },
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: retainUntil,
      }),
    );
    const forgedVersion = written.VersionId!;
    expect(forgedVersion).not.toBe(forged.versionId);
    // Real Object Lock, not an emulator's 200: the forged version is locked, and S3 refuses to delete it.
    expect((await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: forged.key, VersionId: forgedVersion }))).Retention?.Mode).toBe(
      'COMPLIANCE',
    );
    const removal = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: forged.key, VersionId: forgedVersion })).then(
      () => 200,
      (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
    );
    expect(removal).toBe(403);
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: forged.key }));
    expect((versions.Versions ?? []).map((version) => version.VersionId).sort()).toEqual([forged.versionId, forgedVersion].sort());

    // The recovery: the server goes on, and its next checkpoint is anchored under its own key.
    await anchoredRuns(directory, ['after the forgery']);
    const after = anchoredCheckpoints(directory);
    expect(after.length).toBeGreaterThan(before.length);

    const env = radosgwEnvironment();
    const [json, text] = await Promise.all([
      runCli(['--json', 'audit', 'verify-log', '--online'], { cwd: directory, env }),
      runCli(['audit', 'verify-log', '--online'], { cwd: directory, env }),
    ]);
    expect(json.status, json.stderr).toBe(1);
    const report = JSON.parse(json.stdout) as Verified;
    const anchored = report.checkpoints.filter((checkpoint) => checkpoint.anchored);
    expect(anchored.map((checkpoint) => checkpoint.treeSize)).toEqual(after.map((checkpoint) => checkpoint.treeSize));
    expect(report).toMatchObject({
      valid: false,
      checkpointsFailed: 1,
      checkpointsNotChecked: 0,
      checkpointsChecked: report.checkpoints.length - 1,
      anchorsRead: after.length - 1,
      failure: { treeSize: forged.treeSize },
    });
    for (const checkpoint of report.checkpoints) {
      if (checkpoint.treeSize === forged.treeSize) {
        expect(checkpoint).toMatchObject({ result: 'failed', anchorsRead: 0 });
        // Named: the key's versions hold two roots, the forged version among them.
        expect(checkpoint.detail).toContain('the key holds versions of different roots');
        expect(checkpoint.detail).toContain(forgedVersion);
      } else {
        expect(checkpoint, JSON.stringify(checkpoint)).toMatchObject({ result: 'verified', anchorsRead: checkpoint.anchored ? 1 : 0 });
      }
    }
    // Every checkpoint after the forged one was read from the bucket and held.
    const later = report.checkpoints.filter((checkpoint) => checkpoint.anchored && checkpoint.treeSize! > forged.treeSize);
    expect(later.length).toBeGreaterThanOrEqual(2);

    // The text form lists each checkpoint with its result, the summary counts them, and it ends on the failure.
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(
      new RegExp(`^checkpoints: ${report.checkpointsChecked} verified, 1 failed, 0 not checked, of ${report.checkpoints.length} `, 'm'),
    );
    for (const checkpoint of after) {
      expect(text.stdout).toMatch(
        checkpoint.treeSize === forged.treeSize
          ? new RegExp(
              `^  checkpoint at tree size ${forged.treeSize}: failed: s3-object-lock:s3://${bucket}/checkpoints/ .*: reading the checkpoint of cairn:server at tree size ${forged.treeSize} `,
              'm',
            )
          : new RegExp(`^  checkpoint at tree size ${checkpoint.treeSize}: verified \\(held by 1 anchor\\)$`, 'm'),
      );
    }
    expect(text.stdout).toMatch(new RegExp(`^first failure \\(checkpoint at tree size ${forged.treeSize}\\): `, 'm'));
  },
);
