import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatchManifest, StorageProviderV1 } from '@cairn/core';
import { keyIdOf, signManifest } from '@cairn/audit';
import { createInMemorySigner } from '@cairn/conformance/mocks';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';
import { afterEach } from 'vitest';

const created: string[] = [];

/** A fresh temporary directory, removed after the test. */
export function temporaryDirectory(prefix = 'cairn-worker-test-'): string {
  const directory = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  created.push(directory);
  return directory;
}

afterEach(() => {
  for (const directory of created.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** Runs git in `cwd` (a plain repository) without the machine's configuration; returns stdout. */
export function git(cwd: string, args: readonly string[], input?: Uint8Array): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'core.hooksPath=/dev/null', '-c', 'init.defaultBranch=main', ...args],
    {
      cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
      ...(input ? { input } : {}),
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

/** Runs a program (tar, mkfifo) and returns its stdout. */
export function run(program: string, args: readonly string[], cwd?: string): string {
  return execFileSync(program, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether a process with this pid is alive (and not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const status = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return status !== '' && !status.startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * A command item's signed manifest, stored where the worker reads it: the manifest, its digest, the
 * task that names it and the key that trusts it.
 */
export async function signedCommandTask(storage: StorageProviderV1, runId: string, argv: string[], timeoutMs = 10_000) {
  const signer = createInMemorySigner();
  const publicKey = await signer.publicKey();
  const manifest: DispatchManifest = {
    version: 'cairn.manifest/v1',
    runId,
    itemId: 'build',
    attempt: 1,
    fencingToken: 1,
    executionId: `${runId}/build/1`,
    runtime: { kind: 'command', argv },
    workspace: sha256Digest(''),
    inputs: {},
    apply: [],
    env: {},
    secretNames: [],
    limits: { timeoutMs, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
    effect: 'read-impure',
    issuedAt: '2026-11-26T12:00:00.000Z',
  };
  const envelope = await signManifest(manifest, signer);
  const manifestDigest = digestOfJson(envelope);
  await storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope));
  const trustedKeys = [{ keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') }];
  return { manifest, manifestDigest, task: { executionId: manifest.executionId, manifestDigest }, trustedKeys };
}
