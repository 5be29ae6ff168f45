// The engine over the KMS seams: checkpoints and manifests signed by a KMS P-256 key, secrets
// encrypted with KMS data keys, and the exported evidence bundle verified offline trusting only
// the KMS key's public key, the way an auditor checks it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PublicKeyRecord, TaskEnvelope } from '@cairn/core';
import { verifyBundle } from '@cairn/audit';
import { createInMemoryAuditAnchor, createInMemoryExecutor, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { createLocalSigner } from '@cairn/local';
import { afterEach, expect, test } from 'vitest';
import { createKmsCipher } from './cipher/kms-cipher.ts';
import { createKmsSigner } from './signer/kms-signer.ts';
import { kmsEndpointForFile } from './testing/kms.test-support.ts';

const endpoint = kmsEndpointForFile();
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana = { kind: 'user', id: 'ana', via: 'cli' } as const;

test(
  'a run signed by a KMS key, with a KMS-encrypted secret, exports a bundle that verifies trusting the KMS public key (and only it)',
  { timeout: 30_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-kms-engine-'));
    directories.push(directory);
    const signer = createKmsSigner({
      keyId: endpoint().setAlias('alias/cairn-checkpoints', endpoint().createKey('ECC_NIST_P256').keyId),
      endpoint: endpoint().url,
      region: 'us-east-1',
    });
    const cipher = createKmsCipher({ keyId: endpoint().createKey('SYMMETRIC_DEFAULT').keyId, client: endpoint().client() });
    const storage = createInMemoryStorageProvider();
    const anchor = createInMemoryAuditAnchor();
    const received = new Map<string, Readonly<Record<string, string>> | undefined>();
    const executor = createInMemoryExecutor({
      run: async (task: TaskEnvelope) => {
        received.set(task.executionId, task.secrets);
        return 0;
      },
    });
    const engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: executor },
      storage,
      signer,
      cipher,
      anchors: [anchor],
      reconcileIntervalMs: 20,
      inboxPollMs: false,
    });
    try {
      const secret = 'npm_9f8e7d6c5b4a-kms-marker';
      await engine.setSecret('NPM_TOKEN', secret, ana);
      engine.start();
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'kms-evidence',
          items: [
            { id: 'build', secrets: ['NPM_TOKEN'], runtime: { kind: 'command', argv: ['true'] } },
            { id: 'publish', dependsOn: ['build'], runtime: { kind: 'command', argv: ['true'] } },
          ],
        },
        { actor: ana },
      );
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      expect(received.get(`${runId}/build/1`)).toEqual({ NPM_TOKEN: secret });

      const bundle = await engine.exportBundle(runId);
      const kmsKey: PublicKeyRecord = {
        keyId: await signer.keyId(),
        algorithm: 'ecdsa-p256-sha256',
        publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
      };
      expect(bundle.keys).toContainEqual(kmsKey);
      const report = await verifyBundle(bundle, { trustedKeys: [kmsKey], readAnchor: (receipt) => anchor.read(receipt) });
      expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
      expect(report).toMatchObject({ valid: true });

      // Trusting another key (a local Ed25519 one), the same bundle does not verify.
      const other = createLocalSigner({ keyFile: join(directory, 'other.pem'), create: true });
      const otherKey: PublicKeyRecord = {
        keyId: await other.keyId(),
        algorithm: other.algorithm,
        publicKey: Buffer.from(await other.publicKey()).toString('base64'),
      };
      expect((await verifyBundle(bundle, { trustedKeys: [otherKey], readAnchor: (receipt) => anchor.read(receipt) })).valid).toBe(false);

      // KMS saw digests and names, never the secret.
      expect(endpoint().count('Sign')).toBeGreaterThan(0);
      expect(JSON.stringify(endpoint().requests)).not.toContain(secret);
      expect(JSON.stringify(endpoint().requests)).not.toContain(Buffer.from(secret).toString('base64'));
    } finally {
      await engine.close();
    }
  },
);

test(
  'a secret whose KMS key was disabled fails its item saying the key service refused and how to fix it, not "set the secret again"',
  { timeout: 30_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-kms-engine-'));
    directories.push(directory);
    const { keyId } = endpoint().createKey('SYMMETRIC_DEFAULT');
    const cipher = createKmsCipher({ keyId, client: endpoint().client() });
    const signer = createKmsSigner({ keyId: endpoint().createKey('ECC_NIST_P256').keyId, client: endpoint().client() });
    const executor = createInMemoryExecutor({ run: async () => 0 });
    const engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: executor },
      storage: createInMemoryStorageProvider(),
      signer,
      cipher,
      reconcileIntervalMs: 20,
      inboxPollMs: false,
    });
    try {
      await engine.setSecret('NPM_TOKEN', 'npm_value', ana);
      endpoint().setEnabled(keyId, false);
      engine.start();
      const { runId } = engine.submit(
        { version: 1, name: 'kms-disabled', items: [{ id: 'build', secrets: ['NPM_TOKEN'], runtime: { kind: 'command', argv: ['true'] } }] },
        { actor: ana },
      );
      expect((await engine.waitForRun(runId)).state).toBe('failed');
      const failure = engine.items(runId)[0]!.failure!;
      expect(failure.code).toBe('CAIRN_SECRET_UNAVAILABLE');
      expect(failure.message).toContain('CAIRN_CIPHER_UNAVAILABLE');
      expect(failure.message).toContain('DisabledException');
      expect(failure.message).toContain('enable-key');
      expect(failure.message).not.toContain('set the secret again');
    } finally {
      await engine.close();
    }
  },
);
