import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DispatchManifest, PublicKeyRecord, RuntimeSpec, TaskEnvelope } from '@cairn/core';
import { preAuthenticationEncoding } from '@cairn/audit';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import type { ExecutionState } from './execution-state.ts';
import { removeWithMounts } from '../sandbox/unmount-under.ts';
import { isRunning } from './process-identity.ts';

/**
 * What a local executor needs around it in a test: a storage directory, an engine signing key, and
 * signed manifests written straight into the storage directory — synchronously, as the
 * conformance suite builds its tasks (the layout is the provider's: `manifests/<hex>.json`).
 */
export function executorWorld() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-local-executor-'));
  // Sandboxes start as their own uid and must pass through to their workspace.
  chmodSync(directory, 0o711);
  const storageRoot = join(directory, 'storage');
  mkdirSync(storageRoot);
  const storage = createLocalStorageProvider({ root: storageRoot });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };

  const manifestFor = (executionId: string, runtime: RuntimeSpec, overrides: Partial<DispatchManifest> = {}): DispatchManifest => ({
    version: 'cairn.manifest/v1',
    runId: 'conformance',
    itemId: executionId.replaceAll(/[^A-Za-z0-9._-]/g, '-'),
    attempt: 1,
    fencingToken: 1,
    executionId,
    runtime,
    workspace: sha256Digest(''),
    inputs: {},
    apply: [],
    env: {},
    secretNames: [],
    limits: { timeoutMs: 60_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 },
    effect: 'read-impure',
    issuedAt: new Date().toISOString(),
    ...overrides,
  });

  /** A task whose signed manifest runs `runtime`, stored synchronously. */
  const task = (executionId: string, runtime: RuntimeSpec, overrides: Partial<DispatchManifest> = {}): TaskEnvelope => {
    const payload = canonicalJsonBytes(manifestFor(executionId, runtime, overrides));
    const payloadType = 'application/vnd.cairn.manifest+json';
    const signature = sign(null, preAuthenticationEncoding(payloadType, payload), privateKey);
    const envelope = { payload: Buffer.from(payload).toString('base64'), payloadType, signatures: [{ keyid: key.keyId, sig: signature.toString('base64') }] };
    const manifestDigest = digestOfJson(envelope);
    const path = join(storageRoot, manifestKey(manifestDigest));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, canonicalJsonBytes(envelope));
    return { executionId, manifestDigest };
  };

  return {
    directory,
    storage,
    key,
    task,
    stateDirectory: join(directory, 'state'),
    workRoot: join(directory, 'work'),
    cleanUp: () => {
      stopSupervisors(join(directory, 'state'));
      // Kept attempts (keepWorkDirectory) keep their workspace and /tmp mounted.
      removeWithMounts(directory);
    },
  };
}

/**
 * Kills (-9) every live supervisor of the executions under `stateDirectory` and waits until they
 * are gone: supervisors outlive the executor that started them (that is their point), so a test's
 * leftover tasks (a `sleep 600`) would otherwise run on past it, writing into folders being removed.
 */
export function stopSupervisors(stateDirectory: string): void {
  if (!existsSync(stateDirectory)) return;
  const live: ExecutionState['owner'][] = [];
  for (const name of readdirSync(stateDirectory).filter((file) => file.endsWith('.json'))) {
    try {
      const state = JSON.parse(readFileSync(join(stateDirectory, name), 'utf8')) as ExecutionState;
      if (state.status === 'running' && state.owner.pid !== process.pid && isRunning(state.owner)) {
        process.kill(state.owner.pid, 'SIGKILL');
        live.push(state.owner);
      }
    } catch {
      // Being written, or gone: not a live supervisor's.
    }
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let wait = 0; wait < 200 && live.some(isRunning); wait++) Atomics.wait(pause, 0, 0, 25);
}
