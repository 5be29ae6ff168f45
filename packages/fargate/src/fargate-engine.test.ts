// The engine over the Fargate executor: each item is a task of the ECS endpoint (the worker
// entrypoint under bubblewrap, from its root filesystem), storage is the real S3 server, secrets go
// through KMS. A small DAG: two edits whose patches come back, and a check that applies both.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatchManifest, PublicKeyRecord } from '@cairn/core';
import { storedManifestPayload, verifyBundle } from '@cairn/audit';
import { createInMemoryAuditAnchor } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { createLocalSigner } from '@cairn/local';
import { blobKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { afterEach, expect, test } from 'vitest';
import { fargateWorldForFile } from './testing/fargate.test-support.ts';

const world = fargateWorldForFile();
const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana = { kind: 'user', id: 'ana', via: 'cli' } as const;
const text = (bytes: Uint8Array | null) => new TextDecoder().decode(bytes!);

test(
  'a DAG runs through the Fargate executor: patches come back from the tasks and apply downstream; the secret reaches its task',
  { timeout: 120_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-fargate-engine-'));
    directories.push(directory);
    const storage = world().storage;
    const signer = createLocalSigner({ keyFile: join(directory, 'keys', 'signing.pem'), create: true });
    const anchor = createInMemoryAuditAnchor();
    const key: PublicKeyRecord = {
      keyId: await signer.keyId(),
      algorithm: signer.algorithm,
      publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
    };
    const executor = world().executor({ trustedKeys: [key] });

    const source = join(directory, 'source');
    mkdirSync(join(source, 'src'), { recursive: true });
    writeFileSync(join(source, 'src', 'alpha.ts'), 'export const alpha = 1;\n');
    writeFileSync(join(source, 'src', 'beta.ts'), 'export const beta = 2;\n');
    const snapshot = await snapshotWorkspace(source);
    await storage.put(blobKey(snapshot.digest), snapshot.bytes);

    const engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { fargate: executor },
      storage,
      signer,
      cipher: world().cipher,
      anchors: [anchor],
      reconcileIntervalMs: 100,
      inboxPollMs: false,
    });
    try {
      const secret = 'ghp_fargate-engine-secret-marker';
      await engine.setSecret('GITHUB_TOKEN', secret, ana);
      engine.start();
      const header = (file: string) => ({
        kind: 'command' as const,
        argv: ['/bin/sh', '-c', `printf '// tidy\\n' | cat - ${file} > ${file}.new && mv ${file}.new ${file}`],
      });
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'tidy-on-fargate',
          workspace: { snapshot: snapshot.digest },
          items: [
            { id: 'edit-alpha', runtime: header('src/alpha.ts') },
            {
              id: 'edit-beta',
              secrets: ['GITHUB_TOKEN'],
              runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$GITHUB_TOKEN" = '${secret}' && ${header('src/beta.ts').argv[2]}`] },
            },
            {
              id: 'verify',
              needs: { a: { from: 'edit-alpha', select: 'patch' }, b: { from: 'edit-beta', select: 'patch' } },
              apply: ['a', 'b'],
              runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'grep -q tidy src/alpha.ts && grep -q tidy src/beta.ts && echo both'] },
            },
          ],
        },
        { actor: ana },
      );
      const run = await engine.waitForRun(runId);
      expect(Object.fromEntries(engine.items(runId).map((item) => [item.itemId, item.state]))).toEqual({
        'edit-alpha': 'succeeded',
        'edit-beta': 'succeeded',
        verify: 'succeeded',
      });
      expect(run.state).toBe('succeeded');

      const completed = engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.completed');
      const artifactsOf = (itemId: string) => completed.find((entry) => entry.data['itemId'] === itemId)!.data['artifacts'] as Record<string, string>;
      expect(text(await storage.get(blobKey(artifactsOf('edit-alpha')['patch']!)))).toContain('+// tidy');
      expect(text(await storage.get(blobKey(artifactsOf('edit-beta')['patch']!)))).toContain('src/beta.ts');
      expect(text(await storage.get(blobKey(artifactsOf('verify')['stdout']!)))).toBe('both\n');

      // Three tasks ran on the ECS endpoint, none with the secret in its request or environment.
      const tasks = world()
        .ecs.tasks()
        .filter((task) => task.environment['CAIRN_EXECUTION_ID']?.startsWith(`${runId}/`));
      expect(tasks).toHaveLength(3);
      expect(tasks.every((task) => task.exitCode === 0 && task.stopCode === 'EssentialContainerExited')).toBe(true);
      expect(JSON.stringify(world().ecs.requests)).not.toContain(secret);

      // The manifests say the tasks ran in a container, and the evidence verifies.
      const bundle = await engine.exportBundle(runId);
      const manifests = bundle.manifests.map(
        ({ envelope }) => JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as DispatchManifest,
      );
      expect(manifests.map((manifest) => manifest.limits.isolation)).toEqual(['container', 'container', 'container']);
      const report = await verifyBundle(bundle, { trustedKeys: [key], readAnchor: (receipt) => anchor.read(receipt) });
      expect(report).toMatchObject({ valid: true });
    } finally {
      await engine.close();
    }
  },
);
