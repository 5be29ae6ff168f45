import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DispatchManifest, PublicKeyRecord, RuntimeSpec, TaskEnvelope } from '@cairn/core';
import { preAuthenticationEncoding } from '@cairn/audit';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';

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
    cleanUp: () => rmSync(directory, { recursive: true, force: true }),
  };
}
