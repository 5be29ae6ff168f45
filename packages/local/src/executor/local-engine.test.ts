// Cairn on one machine, end to end: the engine over the local seams — directory storage, key-file
// signer, file anchor — and the local executor running each item's command in a bubblewrap
// sandbox over a real workspace snapshot; the patches are real git patches, applied downstream.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatchManifest, PublicKeyRecord } from '@cairn/core';
import { storedManifestPayload, storedManifestSignatures, verifyBundle } from '@cairn/audit';
import { createEngine } from '@cairn/engine';
import { blobKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { afterEach, expect, test } from 'vitest';
import { createLocalAuditAnchor } from '../anchor/local-audit-anchor.ts';
import { createLocalSigner } from '../signer/local-signer.ts';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import { createLocalExecutor } from './local-executor.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

const ana = { kind: 'user', id: 'ana', via: 'cli' } as const;
const text = (bytes: Uint8Array | null) => new TextDecoder().decode(bytes!);

test('a run of sandboxed edits under a shared lock, and a check that applies both patches, through the engine', { timeout: 60_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-local-engine-'));
  directories.push(directory);
  chmodSync(directory, 0o711);
  const storage = createLocalStorageProvider({ root: join(directory, 'storage') });
  const signer = createLocalSigner({ keyFile: join(directory, 'keys', 'signing.pem'), create: true });
  const anchor = createLocalAuditAnchor({ directory: join(directory, 'anchor') });
  const key: PublicKeyRecord = {
    keyId: await signer.keyId(),
    algorithm: signer.algorithm,
    publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
  };
  const executor = createLocalExecutor({ storage, trustedKeys: [key], stateDirectory: join(directory, 'state'), workRoot: join(directory, 'work') });

  // The user's workspace, snapshotted into storage as the CLI would.
  const source = join(directory, 'source');
  mkdirSync(join(source, 'src'), { recursive: true });
  writeFileSync(join(source, 'src', 'alpha.ts'), 'export const alpha = 1;\n');
  writeFileSync(join(source, 'src', 'beta.ts'), 'export const beta = 2;\n');
  const snapshot = await snapshotWorkspace(source);
  await storage.put(blobKey(snapshot.digest), snapshot.bytes);

  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { local: executor },
    storage,
    signer,
    anchors: [anchor],
    reconcileIntervalMs: 200,
    inboxPollMs: false,
  });
  try {
    engine.start();
    const header = (file: string) => ({
      kind: 'command' as const,
      argv: ['/bin/sh', '-c', `printf '// tidy\\n' | cat - ${file} > ${file}.new && mv ${file}.new ${file}`],
    });
    const { runId } = engine.submit(
      {
        version: 1,
        name: 'tidy',
        workspace: { snapshot: snapshot.digest },
        items: [
          { id: 'edit-alpha', runtime: header('src/alpha.ts'), locks: ['file:src/shared.ts'] },
          { id: 'edit-beta', runtime: header('src/beta.ts'), locks: ['file:src/shared.ts'] },
          {
            id: 'verify',
            needs: { a: { from: 'edit-alpha', select: 'patch' }, b: { from: 'edit-beta', select: 'patch' } },
            apply: ['a', 'b'],
            runtime: {
              kind: 'command',
              argv: ['/bin/sh', '-c', 'grep -q tidy src/alpha.ts && grep -q tidy src/beta.ts && test "$HOME" = /workspace && echo both'],
            },
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

    // The patch of edit-alpha, from storage by the digest the audit log recorded.
    const completed = engine.audit.runEntries(runId).filter((entry) => entry.action === 'attempt.completed');
    const artifactsOf = (itemId: string) => completed.find((entry) => entry.data['itemId'] === itemId)!.data['artifacts'] as Record<string, string>;
    const patch = text(await storage.get(blobKey(artifactsOf('edit-alpha')['patch']!)));
    expect(patch).toContain('+// tidy');
    expect(patch).toContain('src/alpha.ts');
    expect(artifactsOf('verify')['patch']).toBeUndefined();
    expect(text(await storage.get(blobKey(artifactsOf('verify')['stdout']!)))).toBe('both\n');

    // The manifests say the tasks ran in a sandbox, and the evidence verifies with its anchor.
    const bundle = await engine.exportBundle(runId);
    const manifests = bundle.manifests.map(
      ({ envelope }) => JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as DispatchManifest,
    );
    expect(manifests.map((manifest) => manifest.limits.isolation)).toEqual(['bubblewrap', 'bubblewrap', 'bubblewrap']);
    const report = await verifyBundle(bundle, { trustedKeys: [key], readAnchor: (receipt) => anchor.read(receipt) });
    expect(report).toMatchObject({ valid: true });
  } finally {
    await engine.close();
  }
});

test(
  'manifests signed by a delegated key run in the sandbox: the worker accepts them through the statement in directory storage',
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-local-delegated-'));
    directories.push(directory);
    chmodSync(directory, 0o711);
    const storage = createLocalStorageProvider({ root: join(directory, 'storage') });
    const signer = createLocalSigner({ keyFile: join(directory, 'keys', 'signing.pem'), create: true });
    const key: PublicKeyRecord = {
      keyId: await signer.keyId(),
      algorithm: signer.algorithm,
      publicKey: Buffer.from(await signer.publicKey()).toString('base64'),
    };
    // The worker trusts the checkpoint key only; the delegate is never configured anywhere.
    const executor = createLocalExecutor({ storage, trustedKeys: [key], stateDirectory: join(directory, 'state'), workRoot: join(directory, 'work') });
    const engine = createEngine({
      database: join(directory, 'engine.db'),
      executors: { local: executor },
      storage,
      signer,
      manifestSigner: 'delegated',
      reconcileIntervalMs: 200,
      inboxPollMs: false,
    });
    try {
      engine.start();
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'delegated',
          items: [
            { id: 'one', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo one > one.txt'] } },
            { id: 'two', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo two > two.txt'] } },
          ],
        },
        { actor: ana },
      );
      expect((await engine.waitForRun(runId)).state).toBe('succeeded');
      const delegated = [...engine.audit.entries()].filter((entry) => entry.action === 'key.delegated');
      expect(delegated).toHaveLength(1);
      const delegateKeyId = delegated[0]!.entity.id;
      expect((await storage.list({ prefix: 'delegations/' })).keys).toEqual([`delegations/${delegateKeyId.slice('sha256:'.length)}.json`]);
      const bundle = await engine.exportBundle(runId);
      expect(bundle.manifests.map((manifest) => storedManifestSignatures(manifest.envelope)[0]!.keyid)).toEqual([delegateKeyId, delegateKeyId]);
      expect(await verifyBundle(bundle, { trustedKeys: [key] })).toMatchObject({ valid: true, verdict: 'verified' });
    } finally {
      await engine.close();
    }
  },
);
