import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchedManifest, DispatchManifest, DsseEnvelope, PublicKeyRecord, ResultRecord, SignerV1, StoredManifest, TaskEnvelope } from '@cairn/core';
import { keyDelegationPayloadType, keyIdOf, signEnvelope, signKeyDelegation, signManifest, signManifests, trustedKeyFrom } from '@cairn/audit';
import { createInMemorySigner, createInMemoryStorageProvider, type InMemoryStorageProvider } from '@cairn/conformance/mocks';
import {
  blobKey,
  canonicalJsonBytes,
  delegationKey,
  digestOfJson,
  isCairnError,
  liveLogSegmentBytes,
  liveLogSegmentKey,
  liveLogStateKey,
  liveLogStateSchema,
  manifestKey,
  resultKey,
  resultRecordSchema,
  sha256Digest,
} from '@cairn/protocol';
import { describe, expect, test } from 'vitest';
import { createCommandRuntime } from '../runtime/command-runtime.ts';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { git, isAlive, temporaryDirectory } from '../testing/worker.test-support.ts';
import { createWorker, type WorkerSettings } from './worker.ts';
import { openTaskManifest } from '../manifest/open-task-manifest.ts';

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

async function publicKeyOf(signer: SignerV1): Promise<PublicKeyRecord> {
  const publicKey = await signer.publicKey();
  return { keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') };
}

interface Dispatch {
  readonly argv?: string[];
  readonly files?: Record<string, string>;
  readonly manifest?: Partial<DispatchManifest>;
  readonly inputs?: Record<string, string>;
  readonly secrets?: Record<string, string>;
  readonly signer?: SignerV1;
  readonly worker?: Partial<WorkerSettings>;
  readonly tamper?: (stored: Uint8Array) => Uint8Array;
  readonly signal?: AbortSignal;
  /** Signed with this many other manifests of its pass (ADR 0026), as their batch's leaf 1. */
  readonly batchedWith?: number;
}

/**
 * The engine's side, then the worker's: the workspace snapshot and input patches stored by digest,
 * a manifest signed and stored like the dispatcher does it, then one `Worker.run`.
 */
async function setUp() {
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const key = await publicKeyOf(signer);
  const workRoot = temporaryDirectory('cairn-worker-root-');
  /** Where tests let commands leave traces outside the (removed) workspace. */
  const traces = temporaryDirectory('cairn-worker-traces-');
  let attempts = 0;

  async function dispatch(options: Dispatch = {}): Promise<{ record: ResultRecord; task: TaskEnvelope; manifest: DispatchManifest }> {
    const source = temporaryDirectory();
    for (const [path, content] of Object.entries(options.files ?? { 'README.md': 'hello\n' })) {
      mkdirSync(join(source, path, '..'), { recursive: true });
      writeFileSync(join(source, path), content);
    }
    const snapshot = await snapshotWorkspace(source);
    if (snapshot.bytes.byteLength > 0) await storage.put(blobKey(snapshot.digest), snapshot.bytes);
    const inputs: Record<string, DispatchManifest['inputs'][string]> = {};
    for (const [name, patch] of Object.entries(options.inputs ?? {})) {
      const digest = sha256Digest(patch);
      await storage.put(blobKey(digest), Buffer.from(patch));
      inputs[name] = { from: `upstream-${name}`, select: 'patch', digest };
    }
    attempts++;
    const manifest: DispatchManifest = {
      version: 'cairn.manifest/v1',
      runId: 'run-1',
      itemId: 'build',
      attempt: attempts,
      fencingToken: attempts,
      executionId: `run-1/build/${attempts}`,
      runtime: { kind: 'command', argv: options.argv ?? ['/bin/sh', '-c', 'echo hi; printf x > new.txt'] },
      workspace: snapshot.digest,
      inputs,
      apply: Object.keys(inputs),
      env: { TRACES: traces },
      secretNames: Object.keys(options.secrets ?? {}),
      limits: { timeoutMs: 10_000, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
      effect: 'read-impure',
      issuedAt: '2026-11-22T12:00:00.000Z',
      ...options.manifest,
    };
    const others = Array.from({ length: options.batchedWith ?? 0 }, (_, index) => ({
      ...manifest,
      itemId: `other-${index}`,
      executionId: `run-1/other-${index}/1`,
    }));
    const envelope: StoredManifest = others.length
      ? (await signManifests([others[0]!, manifest, ...others.slice(1)], options.signer ?? signer))[1]!
      : await signManifest(manifest, options.signer ?? signer);
    let stored = canonicalJsonBytes(envelope);
    const manifestDigest = digestOfJson(envelope);
    if (options.tamper) stored = options.tamper(stored);
    await storage.put(manifestKey(manifestDigest), stored);
    const task: TaskEnvelope = { executionId: manifest.executionId, manifestDigest, ...(options.secrets ? { secrets: options.secrets } : {}) };
    const worker = createWorker({
      storage,
      trustedKeys: [key],
      runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) },
      workRoot,
      ...options.worker,
    });
    const record = await worker.run(task, options.signal);
    return { record, task, manifest };
  }

  const blob = async (digest: string | undefined) => (digest === undefined ? undefined : text(await storage.get(blobKey(digest))));
  return { storage, signer, key, workRoot, traces, dispatch, blob };
}

/** The record as stored: canonical JSON at results/<executionId>.json, valid and equal to what run returned. */
async function storedRecord(storage: InMemoryStorageProvider, record: ResultRecord): Promise<ResultRecord> {
  const bytes = await storage.get(resultKey(record.executionId));
  expect(bytes).not.toBeNull();
  expect(Buffer.from(bytes!).equals(Buffer.from(canonicalJsonBytes(record)))).toBe(true);
  return resultRecordSchema.parse(JSON.parse(text(bytes)!)) as ResultRecord;
}

describe('Worker.run', () => {
  test('inputs that are not applied (an upstream stdout) are files under $CAIRN_INPUTS, left out of the patch; a workspace that holds .cairn-inputs is refused', async () => {
    const { dispatch, storage, blob, traces } = await setUp();
    const said = Buffer.from('upstream said this\n');
    const digest = sha256Digest(said);
    await storage.put(blobKey(digest), said);
    const inputs = { said: { from: 'upstream', select: 'stdout' as const, digest } };
    const { record } = await dispatch({
      argv: ['/bin/sh', '-c', 'cp "$CAIRN_INPUTS/said" "$TRACES/said"; echo "$CAIRN_INPUTS" > "$TRACES/where"; echo mine > mine.txt'],
      manifest: { inputs, apply: [] },
    });
    expect(record.outcome).toBe('succeeded');
    expect(readFileSync(join(traces, 'said'), 'utf8')).toBe('upstream said this\n');
    expect(readFileSync(join(traces, 'where'), 'utf8').trim()).toMatch(/\/workspace\/\.cairn-inputs$/);
    const patch = await blob(record.artifacts.patch);
    expect(patch).toContain('mine.txt');
    expect(patch).not.toContain('.cairn-inputs');

    const { record: clashing } = await dispatch({ files: { '.cairn-inputs/said': 'mine, not an input\n' }, manifest: { inputs, apply: [] } });
    expect(clashing.outcome).toBe('failed');
    expect(clashing.failure).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('The workspace already holds .cairn-inputs') });
  });

  test('a signed manifest for `sh -c "echo hi; printf x > new.txt"`: succeeded, with patch, stdout and stderr blobs stored', async () => {
    const { dispatch, storage, blob, workRoot } = await setUp();
    const { record, task } = await dispatch();
    expect(record).toMatchObject({
      version: 'cairn.result/v1',
      runId: 'run-1',
      itemId: 'build',
      attempt: 1,
      fencingToken: 1,
      executionId: 'run-1/build/1',
      manifestDigest: task.manifestDigest,
      outcome: 'succeeded',
      exitCode: 0,
      patchStats: { filesChanged: 1 },
    });
    expect(record.failure).toBeUndefined();
    expect(await storedRecord(storage, record)).toEqual(record);
    expect(await blob(record.artifacts.stdout)).toBe('hi\n');
    expect(await blob(record.artifacts.stderr)).toBe('');
    const patch = await blob(record.artifacts.patch);
    expect(patch).toContain('diff --git a/new.txt b/new.txt');
    expect(record.patchStats!.bytes).toBe(Buffer.byteLength(patch!));
    expect(Date.parse(record.finishedAt)).toBeGreaterThanOrEqual(Date.parse(record.startedAt));
    expect(readdirSync(workRoot), 'the work directory is removed').toEqual([]);
  });

  test('the patch applies with git apply --index on a checkout of the snapshot and reproduces the change', async () => {
    const { dispatch, blob } = await setUp();
    const { record } = await dispatch({
      files: { 'src/a.txt': 'one\ntwo\n', 'src/old.txt': 'old\n' },
      argv: ['/bin/sh', '-c', 'printf "one\\n2\\n" > src/a.txt && rm src/old.txt && printf "\\0\\1" > bin && chmod +x bin && ln -s src/a.txt link'],
    });
    const checkout = temporaryDirectory();
    mkdirSync(join(checkout, 'src'));
    writeFileSync(join(checkout, 'src/a.txt'), 'one\ntwo\n');
    writeFileSync(join(checkout, 'src/old.txt'), 'old\n');
    git(checkout, ['init', '-q']);
    git(checkout, ['add', '-A']);
    git(checkout, ['commit', '-qm', 'x']);
    git(checkout, ['apply', '--index'], Buffer.from((await blob(record.artifacts.patch))!));
    expect(
      git(checkout, ['ls-files', '-s'])
        .split('\n')
        .map((line) => line.replace(/ [0-9a-f]{40} /, ' '))
        .filter(Boolean),
    ).toEqual(['100755 0\tbin', '120000 0\tlink', '100644 0\tsrc/a.txt']);
    expect(readFileSync(join(checkout, 'src/a.txt'), 'utf8')).toBe('one\n2\n');
  });

  test.each([
    ['edited bytes', { tamper: (stored: Uint8Array) => Buffer.from(text(stored)!.replace('"signatures":', '"signatures": ')) }, 'CAIRN_DIGEST_MISMATCH'],
    ['a signature by a key the worker does not trust', { signer: createInMemorySigner() }, 'CAIRN_SIGNATURE_INVALID'],
    ['not an envelope', { tamper: () => Buffer.from('{"hello":') }, 'CAIRN_DIGEST_MISMATCH'],
  ])('a tampered manifest (%s): nothing runs, the attempt fails with the code', async (_, options, code) => {
    const { dispatch, traces, workRoot } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'], ...options });
    expect(record).toMatchObject({ outcome: 'failed', exitCode: null, failure: { code }, runId: 'run-1', itemId: 'build', attempt: 1, fencingToken: 1 });
    expect(record.artifacts.patch).toBeUndefined();
    expect(existsSync(join(traces, 'ran'))).toBe(false);
    expect(readdirSync(workRoot)).toEqual([]);
  });

  test('a manifest signed with its dispatch pass (ADR 0026) runs as one signed alone', async () => {
    const { dispatch, blob } = await setUp();
    const { record, task } = await dispatch({ batchedWith: 4 });
    expect(record).toMatchObject({ outcome: 'succeeded', executionId: 'run-1/build/1', manifestDigest: task.manifestDigest });
    expect(await blob(record.artifacts.stdout)).toBe('hi\n');
  });

  test.each([
    ['another leaf of its batch', (stored: BatchedManifest) => ({ ...stored, index: 0 })],
    ['a proof hash edited', (stored: BatchedManifest) => ({ ...stored, proof: [stored.proof[1]!, ...stored.proof.slice(1)] })],
    [
      'its batch signed by a key the worker does not trust',
      async (stored: BatchedManifest) => {
        const manifest = JSON.parse(Buffer.from(stored.manifest, 'base64').toString('utf8')) as DispatchManifest;
        return (await signManifests([{ ...manifest, itemId: 'other' }, manifest], createInMemorySigner()))[1]!;
      },
    ],
  ])('a batched manifest re-stored under the digest of its edit (%s): nothing runs, CAIRN_SIGNATURE_INVALID', async (_, edit) => {
    const { dispatch, storage, key, workRoot, traces } = await setUp();
    const { task } = await dispatch({ batchedWith: 2, argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'] });
    // The manifest as signed ran; its edit must not.
    expect(existsSync(join(traces, 'ran'))).toBe(true);
    rmSync(join(traces, 'ran'));
    const stored = JSON.parse(text(await storage.get(manifestKey(task.manifestDigest)))!) as BatchedManifest;
    const edited = await edit(stored);
    const editedDigest = digestOfJson(edited);
    await storage.put(manifestKey(editedDigest), canonicalJsonBytes(edited));
    const worker = createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot });
    const record = await worker.run({ executionId: task.executionId, manifestDigest: editedDigest });
    expect(record).toMatchObject({ outcome: 'failed', exitCode: null, failure: { code: 'CAIRN_SIGNATURE_INVALID' }, executionId: 'run-1/build/1' });
    expect(existsSync(join(traces, 'ran'))).toBe(false);
  });

  test('a manifest re-stored under the digest of its altered bytes still fails its signature', async () => {
    const { dispatch, storage, key, workRoot, traces } = await setUp();
    const { task } = await dispatch();
    const envelope = JSON.parse(text(await storage.get(manifestKey(task.manifestDigest)))!) as DsseEnvelope;
    const payload = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as DispatchManifest;
    const forged = {
      ...payload,
      executionId: 'run-1/build/9',
      attempt: 9,
      runtime: { kind: 'command' as const, argv: ['/bin/sh', '-c', 'touch "$TRACES/forged"'] },
    };
    const forgedEnvelope = { ...envelope, payload: Buffer.from(canonicalJsonBytes(forged)).toString('base64') };
    const forgedDigest = digestOfJson(forgedEnvelope);
    await storage.put(manifestKey(forgedDigest), canonicalJsonBytes(forgedEnvelope));
    const worker = createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot });
    const record = await worker.run({ executionId: 'run-1/build/9', manifestDigest: forgedDigest });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_SIGNATURE_INVALID' }, attempt: 9 });
    expect(record.failure!.message).toContain('No signature of the envelope verifies with the trusted key it names');
    expect(existsSync(join(traces, 'forged'))).toBe(false);
  });

  describe('a manifest signed by a delegated key (ADR 0020)', () => {
    const issuedAt = '2026-11-22T11:00:00.000Z';
    // The engine's side: a key of its own signs the manifest; the trusted key vouched for it once.
    async function delegated(
      statementOf: (parts: { delegate: PublicKeyRecord; trusted: PublicKeyRecord; signer: SignerV1 }) => Promise<DsseEnvelope | undefined>,
    ) {
      const parts = await setUp();
      const delegateSigner = createInMemorySigner();
      const delegate = await publicKeyOf(delegateSigner);
      const statement = await statementOf({ delegate, trusted: parts.key, signer: parts.signer });
      if (statement) await parts.storage.put(delegationKey(delegate.keyId), canonicalJsonBytes(statement));
      return { ...parts, delegateSigner, delegate };
    }

    test('is run when its statement, signed by a trusted key, delegates dispatch manifests to that key', async () => {
      const { dispatch, delegateSigner, storage, key, workRoot } = await delegated(({ delegate, trusted, signer }) =>
        signKeyDelegation({ delegate, purpose: 'dispatch-manifest', delegatedBy: trusted.keyId, issuedAt }, signer),
      );
      const { record, task } = await dispatch({ signer: delegateSigner });
      expect(record).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
      // A worker reads a statement once: the delegate it verified stays verified, for manifests only.
      const delegates = new Map<string, ReturnType<typeof trustedKeyFrom>>();
      expect('manifest' in (await openTaskManifest(storage, task, [trustedKeyFrom(key)], delegates))).toBe(true);
      expect([...delegates.keys()]).toEqual([keyIdOf(await delegateSigner.publicKey())]);
      await storage.delete(delegationKey(keyIdOf(await delegateSigner.publicKey())));
      expect('manifest' in (await openTaskManifest(storage, task, [trustedKeyFrom(key)], delegates))).toBe(true);
      expect(readdirSync(workRoot)).toEqual([]);
    });

    test.each([
      [
        'a statement signed by an untrusted key',
        async ({ delegate }: { delegate: PublicKeyRecord }) => {
          const impostor = createInMemorySigner();
          return signKeyDelegation({ delegate, purpose: 'dispatch-manifest', delegatedBy: (await publicKeyOf(impostor)).keyId, issuedAt }, impostor);
        },
        /delegations\/[0-9a-f]{64}\.json does not vouch for it: .*No signature of the envelope is by a trusted key/,
      ],
      [
        'a statement for another purpose',
        async ({ delegate, trusted, signer }: { delegate: PublicKeyRecord; trusted: PublicKeyRecord; signer: SignerV1 }) =>
          signEnvelope(keyDelegationPayloadType, canonicalJsonBytes({ delegate, purpose: 'checkpoint', delegatedBy: trusted.keyId, issuedAt }), signer),
        /does not vouch for it: .*\$\.purpose must be dispatch-manifest/,
      ],
      [
        'a statement for another key, stored under this key',
        async ({ trusted, signer }: { trusted: PublicKeyRecord; signer: SignerV1 }) =>
          signKeyDelegation(
            { delegate: await publicKeyOf(createInMemorySigner()), purpose: 'dispatch-manifest', delegatedBy: trusted.keyId, issuedAt },
            signer,
          ),
        /does not vouch for it: .*it delegates to sha256:[0-9a-f]{64}, not to sha256:/,
      ],
      [
        'no statement',
        async () => undefined,
        /which is not trusted, and no delegation statement for that key is in storage \(delegations\/[0-9a-f]{64}\.json\)/,
      ],
    ])('is refused with %s: nothing runs, CAIRN_SIGNATURE_INVALID names the statement', async (_, statementOf, message) => {
      const { dispatch, delegateSigner, traces, workRoot } = await delegated(statementOf as Parameters<typeof delegated>[0]);
      const { record } = await dispatch({ signer: delegateSigner, argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'] });
      expect(record).toMatchObject({ outcome: 'failed', exitCode: null, failure: { code: 'CAIRN_SIGNATURE_INVALID' }, attempt: 1 });
      expect(record.failure!.message).toMatch(message);
      expect(record.failure!.message).toMatch(/^The dispatch manifest manifests\/[0-9a-f]{64}\.json was refused: it is signed by sha256:/);
      expect(existsSync(join(traces, 'ran'))).toBe(false);
      expect(readdirSync(workRoot)).toEqual([]);
    });
  });

  test('a manifest for another execution is refused', async () => {
    const { dispatch, storage, key, workRoot } = await setUp();
    const { task } = await dispatch();
    const worker = createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot });
    const record = await worker.run({ executionId: 'run-1/build/7', manifestDigest: task.manifestDigest });
    expect(record).toMatchObject({ executionId: 'run-1/build/7', outcome: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID' } });
    expect(record.failure!.message).toContain('is for execution "run-1/build/1"');
  });

  test('a missing manifest fails with CAIRN_NOT_FOUND', async () => {
    const { storage, key, workRoot } = await setUp();
    const worker = createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot });
    const record = await worker.run({ executionId: 'run-1/x/1', manifestDigest: sha256Digest('nothing') });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_NOT_FOUND' }, runId: 'run-1', itemId: 'x', attempt: 1 });
  });

  test("input patches are applied in order and the item's patch holds only its own change", async () => {
    const { dispatch, blob } = await setUp();
    const first = 'diff --git a/a.txt b/a.txt\nnew file mode 100644\n--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+from upstream\n';
    const second = 'diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1,2 @@\n from upstream\n+and its successor\n';
    const { record } = await dispatch({ inputs: { first, second }, argv: ['/bin/sh', '-c', 'cat a.txt; echo mine > b.txt'] });
    expect(record.outcome).toBe('succeeded');
    expect(await blob(record.artifacts.stdout)).toBe('from upstream\nand its successor\n');
    const patch = (await blob(record.artifacts.patch))!;
    expect(patch).toContain('b/b.txt');
    expect(patch).not.toContain('a.txt');
  });

  test("an input patch that does not apply: failed, naming the input, its item and git's message; nothing runs", async () => {
    const { dispatch, traces } = await setUp();
    const conflicting = 'diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-goodbye\n+hello again\n';
    const { record } = await dispatch({ inputs: { change: conflicting }, argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'] });
    expect(record).toMatchObject({ outcome: 'failed', exitCode: null, failure: { code: 'CAIRN_PAYLOAD_INVALID' } });
    expect(record.failure!.message).toContain('Input "change" (the patch of item "upstream-change"');
    expect(record.failure!.message).toContain('does not apply');
    expect(record.failure!.message).toContain('patch failed: README.md:1');
    expect(existsSync(join(traces, 'ran'))).toBe(false);
  });

  test('an input whose blob was altered fails with CAIRN_DIGEST_MISMATCH', async () => {
    const { dispatch, storage } = await setUp();
    const patch = 'diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n';
    const original = storage.put.bind(storage);
    storage.put = async (key, body, options) => original(key, key === blobKey(sha256Digest(patch)) ? Buffer.from('evil') : body, options);
    const { record } = await dispatch({ inputs: { change: patch } });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_DIGEST_MISMATCH' } });
  });

  test('timeout: timed-out, and the whole process group is gone', async () => {
    const { dispatch, traces } = await setUp();
    const started = Date.now();
    const { record } = await dispatch({
      argv: ['/bin/sh', '-c', 'trap "" TERM; sleep 60 & echo $! > "$TRACES/child"; echo started; wait'],
      manifest: { limits: { timeoutMs: 500, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 1_000 } },
    });
    expect(record.outcome).toBe('timed-out');
    expect(record.exitCode).toBeNull();
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(isAlive(Number(readFileSync(join(traces, 'child'), 'utf8')))).toBe(false);
  });

  test('cancel: the signal stops the runtime and the record says cancelled', async () => {
    const { dispatch } = await setUp();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 400);
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'sleep 60'], signal: controller.signal });
    expect(record.outcome).toBe('cancelled');
  });

  test('secrets reach the runtime and are redacted in stored logs, even split across writes', async () => {
    const { dispatch, blob, storage } = await setUp();
    const secret = 'sk-live-0123456789abcdef';
    const { record } = await dispatch({
      secrets: { API_TOKEN: secret, UNNAMED: 'never-handed-over' },
      manifest: { secretNames: ['API_TOKEN'] },
      argv: [
        '/bin/sh',
        '-c',
        'printf "token=%s" "${API_TOKEN%%0123*}"; sleep 0.2; printf "%s\\n" "0123${API_TOKEN#*0123}"; echo "err $API_TOKEN" >&2; echo "unnamed=${UNNAMED:-absent}"',
      ],
    });
    expect(record.outcome).toBe('succeeded');
    expect(await blob(record.artifacts.stdout)).toBe('token=[redacted:API_TOKEN]\nunnamed=absent\n');
    expect(await blob(record.artifacts.stderr)).toBe('err [redacted:API_TOKEN]\n');
    for (const bytes of storage.backend.values()) expect(Buffer.from(bytes).includes(secret)).toBe(false);
  });

  test('a secret written into the workspace fails the attempt without storing it anywhere', async () => {
    const { dispatch, storage } = await setUp();
    const secret = 'sk-live-leaky-value';
    const { record } = await dispatch({ secrets: { API_TOKEN: secret }, argv: ['/bin/sh', '-c', 'echo "$API_TOKEN" > .npmrc'] });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID' } });
    expect(record.failure!.message).toContain('".npmrc" holds the value of secret API_TOKEN');
    expect(record.artifacts.patch).toBeUndefined();
    for (const bytes of storage.backend.values()) expect(Buffer.from(bytes).includes(secret)).toBe(false);
  });

  test('a secret the manifest names but the task lacks: failed, nothing runs', async () => {
    const { dispatch, traces } = await setUp();
    const { record } = await dispatch({ manifest: { secretNames: ['DEPLOY_KEY'] }, argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'] });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_SECRET_UNAVAILABLE' } });
    expect(record.failure!.message).toContain('secret DEPLOY_KEY');
    expect(existsSync(join(traces, 'ran'))).toBe(false);
  });

  test('logs over limits.maxLogBytes are cut with a marker line', async () => {
    const { dispatch, blob } = await setUp();
    const { record } = await dispatch({
      argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 100 ]; do echo "line $i of output"; i=$((i+1)); done'],
      manifest: { limits: { timeoutMs: 10_000, network: false, maxPatchBytes: 1_000, maxLogBytes: 64 } },
    });
    const stdout = (await blob(record.artifacts.stdout))!;
    const full = Array.from({ length: 100 }, (_, index) => `line ${index} of output\n`).join('');
    expect(stdout).toBe(`${full.slice(0, 64)}\n[cairn] stdout truncated: kept the first 64 of ${full.length} bytes (limits.maxLogBytes)\n`);
  });

  test('the runtime environment is the allowlist, the manifest env and the named secrets only; HOME is the workspace', async () => {
    const { dispatch, blob } = await setUp();
    process.env['CAIRN_WORKER_TEST_LEAK'] = 'leaked';
    try {
      const { record } = await dispatch({
        argv: ['/bin/sh', '-c', 'env | grep -v "^PWD=" | sort; [ "$HOME" = "$(pwd -P)" ] && echo home-is-workspace'],
        secrets: { S: 'v' },
      });
      const names = (await blob(record.artifacts.stdout))!
        .trim()
        .split('\n')
        .map((line) => line.split('=')[0]);
      expect(names).toEqual(['HOME', 'LANG', 'PATH', 'S', 'TRACES', 'home-is-workspace']);
    } finally {
      delete process.env['CAIRN_WORKER_TEST_LEAK'];
    }
  });

  test('output.json is stored as canonical JSON and left out of the patch; an invalid one fails the attempt', async () => {
    const { dispatch, blob } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'printf \'{ "b": 2, "a": [1, 2.0] }\' > output.json; echo x > other.txt'] });
    expect(record.outcome).toBe('succeeded');
    expect(await blob(record.artifacts.output)).toBe('{"a":[1,2],"b":2}');
    expect(await blob(record.artifacts.patch)).not.toContain('output.json');
    const invalid = await dispatch({ argv: ['/bin/sh', '-c', 'printf "{not json" > output.json'] });
    expect(invalid.record).toMatchObject({
      outcome: 'failed',
      failure: { code: 'CAIRN_PAYLOAD_INVALID', message: "The runtime's output.json is not valid UTF-8 JSON." },
    });
    const linked = await dispatch({ argv: ['/bin/sh', '-c', 'ln -s /etc/passwd output.json'] });
    expect(linked.record.failure?.message).toContain('is a symlink');
  });

  test('a non-zero exit fails the attempt with its exit code; the change is still captured', async () => {
    const { dispatch } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'echo partial > half.txt; exit 3'] });
    expect(record).toMatchObject({ outcome: 'failed', exitCode: 3, patchStats: { filesChanged: 1 } });
    // Every attempt that does not succeed says why: here, the exit code.
    expect(record.failure).toMatchObject({ code: 'CAIRN_EXIT_NONZERO', exitCode: 3, signal: null });
  });

  test('every failed outcome carries a failure: exit code, signal, timeout, cancel, refusal rule, with the redacted end of stderr', async () => {
    const { dispatch } = await setUp();
    const secret = 'tok-9c1e77f0';
    // More than the tail holds, ending in a line that names the secret: the tail is the end, redacted.
    const exited = await dispatch({
      secrets: { API_TOKEN: secret },
      argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 300 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "fatal: bad token $API_TOKEN" >&2; exit 2'],
    });
    expect(exited.record.failure).toMatchObject({
      code: 'CAIRN_EXIT_NONZERO',
      exitCode: 2,
      signal: null,
      message: 'The runtime exited with code 2; the last line of its stderr: "fatal: bad token [redacted:API_TOKEN]".',
    });
    const tail = exited.record.failure!.stderrTail;
    expect(tail.endsWith('noise line 299\nfatal: bad token [redacted:API_TOKEN]\n')).toBe(true);
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(2048);
    expect(Buffer.byteLength(tail)).toBeGreaterThan(2000);
    expect(JSON.stringify(exited.record)).not.toContain(secret);

    const killed = await dispatch({ argv: ['/bin/sh', '-c', 'echo about to die >&2; kill -KILL $$'] });
    expect(killed.record).toMatchObject({
      outcome: 'failed',
      exitCode: null,
      failure: { code: 'CAIRN_ATTEMPT_KILLED', exitCode: null, signal: 'SIGKILL', stderrTail: 'about to die\n' },
    });

    const slow = await dispatch({
      argv: ['/bin/sh', '-c', 'sleep 60'],
      manifest: { limits: { timeoutMs: 300, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 1_000 } },
    });
    expect(slow.record).toMatchObject({
      outcome: 'timed-out',
      failure: { code: 'CAIRN_ATTEMPT_TIMED_OUT', message: expect.stringContaining('timeout of 300 ms') },
    });

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const cancelled = await dispatch({ argv: ['/bin/sh', '-c', 'sleep 60'], signal: controller.signal });
    expect(cancelled.record).toMatchObject({ outcome: 'cancelled', failure: { code: 'CAIRN_ATTEMPT_CANCELLED' } });

    const refused = await dispatch({ argv: ['/bin/sh', '-c', 'echo "#!/bin/sh" > run.sh; chmod 4755 run.sh'] });
    expect(refused.record).toMatchObject({
      outcome: 'failed',
      exitCode: 0,
      failure: { code: 'CAIRN_PAYLOAD_INVALID', rule: 'setuid', exitCode: 0, signal: null, stderrTail: '' },
    });

    const succeeded = await dispatch({ argv: ['/bin/true'] });
    expect(succeeded.record.failure).toBeUndefined();
  });

  test('a task without a secret its manifest names fails with CAIRN_SECRET_UNAVAILABLE naming it, and nothing runs', async () => {
    const { dispatch, storage, key, workRoot } = await setUp();
    const { record, task } = await dispatch({ secrets: { API_TOKEN: 'tok-1' }, argv: ['/bin/sh', '-c', 'echo ran > ran.txt'] });
    expect(record.outcome).toBe('succeeded');
    // The same manifest handed over without the secret (one removed since the dispatch): a new execution.
    await storage.delete(resultKey(task.executionId));
    const worker = createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot });
    const without = await worker.run({ executionId: task.executionId, manifestDigest: task.manifestDigest });
    expect(without).toMatchObject({
      outcome: 'failed',
      exitCode: null,
      failure: { code: 'CAIRN_SECRET_UNAVAILABLE', message: expect.stringContaining('API_TOKEN'), exitCode: null, signal: null, stderrTail: '' },
    });
    expect(without.artifacts.patch).toBeUndefined();
  });

  test('an unsafe change fails the attempt with the reason and stores no patch', async () => {
    const { dispatch } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'ln -s /etc/passwd passwd'] });
    expect(record).toMatchObject({ outcome: 'failed', exitCode: 0, failure: { code: 'CAIRN_PAYLOAD_INVALID' } });
    expect(record.failure!.message).toContain('"passwd" -> "/etc/passwd" points at the absolute path');
    expect(record.artifacts.patch).toBeUndefined();
  });

  test('a runtime that swaps its workspace for a symlink to / gets nothing read or staged from there', async () => {
    const { dispatch } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'here="$(pwd -P)"; cd .. && mv "$here" "$here-gone" && ln -s / "$here"'] });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID', message: expect.stringContaining('was replaced') } });
    expect(record.artifacts.patch).toBeUndefined();
    expect(record.artifacts.output).toBeUndefined();
  });

  test('a program that cannot start, and a runtime the worker lacks, fail with CAIRN_RUNTIME_FAILED', async () => {
    const { dispatch } = await setUp();
    const missing = await dispatch({ argv: ['cairn-no-such-program'] });
    expect(missing.record).toMatchObject({ outcome: 'failed', exitCode: null, failure: { code: 'CAIRN_RUNTIME_FAILED' } });
    const agent = await dispatch({ manifest: { runtime: { kind: 'agent', adapter: 'claude-code', prompt: 'x' } } });
    expect(agent.record.failure).toMatchObject({ code: 'CAIRN_RUNTIME_FAILED', message: expect.stringContaining('no runtime adapter "claude-code"') });
  });

  test('the empty workspace (sha256 of nothing) needs no blob', async () => {
    const { dispatch } = await setUp();
    const { record, manifest } = await dispatch({ files: {} });
    expect(manifest.workspace).toBe(sha256Digest(''));
    expect(record.outcome).toBe('succeeded');
  });

  test('an unsafe snapshot fails before anything runs', async () => {
    const { dispatch, storage, traces } = await setUp();
    const tar = Buffer.from('x'.repeat(1024));
    await storage.put(blobKey(sha256Digest(tar)), tar);
    const { record } = await dispatch({ manifest: { workspace: sha256Digest(tar) }, argv: ['/bin/sh', '-c', 'touch "$TRACES/ran"'] });
    expect(record).toMatchObject({ outcome: 'failed', failure: { code: 'CAIRN_PAYLOAD_INVALID' } });
    expect(existsSync(join(traces, 'ran'))).toBe(false);
  });

  test('a task whose result is already stored is not run again', async () => {
    const { storage, key, workRoot, dispatch, traces } = await setUp();
    const { record, task } = await dispatch({ argv: ['/bin/sh', '-c', 'echo run >> "$TRACES/count"'] });
    const again = await createWorker({ storage, trustedKeys: [key], runtimes: { command: createCommandRuntime() }, workRoot }).run(task);
    expect(again).toEqual(record);
    expect(readFileSync(join(traces, 'count'), 'utf8')).toBe('run\n');
  });

  test('keepWorkDirectory keeps the workspace and its git directory', async () => {
    const { dispatch, workRoot } = await setUp();
    await dispatch({ worker: { keepWorkDirectory: true } });
    const [kept] = readdirSync(workRoot);
    expect(kept).toMatch(/^cairn-build-1-/);
    expect(readdirSync(join(workRoot, kept!)).sort()).toEqual(['git', 'workspace']);
    expect(readFileSync(join(workRoot, kept!, 'workspace', 'new.txt'), 'utf8')).toBe('x');
  });
});

describe('createWorker settings', () => {
  const storage = createInMemoryStorageProvider();
  const runtimes = { command: createCommandRuntime() };
  const failure = (settings: unknown) => {
    try {
      createWorker(settings as WorkerSettings);
    } catch (error) {
      if (isCairnError(error, 'CAIRN_CONFIG_INVALID')) return { path: error.path, paths: error.issues.map((issue) => issue.path), message: error.message };
      throw error;
    }
    return undefined;
  };

  test('every problem is listed by option path', async () => {
    const result = failure({ storage: {}, trustedKeys: [], runtimes: {}, keepWorkDirectory: 'yes', colour: true });
    expect(result?.paths.sort()).toEqual(['worker.colour', 'worker.keepWorkDirectory', 'worker.runtimes', 'worker.storage', 'worker.trustedKeys']);
    expect(result?.message).toMatch(/^\[cairn\] \[worker\] invalid settings: /);
  });

  test('a trusted key whose id is not its key is refused at construction', async () => {
    const key = await publicKeyOf(createInMemorySigner());
    expect(failure({ storage, runtimes, trustedKeys: [{ ...key, keyId: sha256Digest('other') }] })).toMatchObject({ path: 'worker.trustedKeys.0' });
    expect(failure({ storage, runtimes, trustedKeys: [key] })).toBeUndefined();
  });
});

describe('the live log', () => {
  /** Reads the live log of `executionId` as a reader would: the progress, then that many bytes of each stream's segments. */
  async function readLive(storage: InMemoryStorageProvider, executionId: string) {
    const progress = await storage.get(liveLogStateKey(executionId));
    if (progress === null) return undefined;
    const state = liveLogStateSchema.parse(JSON.parse(text(progress)!));
    const streamText = async (stream: 'stdout' | 'stderr') => {
      const parts: Buffer[] = [];
      for (let index = 0; index * liveLogSegmentBytes < state[stream].bytes; index++)
        parts.push(Buffer.from((await storage.get(liveLogSegmentKey(executionId, stream, index)))!));
      return Buffer.concat(parts).subarray(0, state[stream].bytes);
    };
    return { state, stdout: await streamText('stdout'), stderr: await streamText('stderr') };
  }

  test('while the attempt runs its output is in storage, redacted, a prefix of the stored log; removed once the record is written', async () => {
    const { dispatch, storage, blob } = await setUp();
    const secret = 'sk-live-streamed-4f1e';
    const running = dispatch({
      secrets: { API_TOKEN: secret },
      manifest: { secretNames: ['API_TOKEN'] },
      argv: ['/bin/sh', '-c', 'echo first; echo oops >&2; sleep 1.2; echo "token $API_TOKEN"; sleep 1.2; echo last'],
    });
    let ended = false;
    void running.then(() => (ended = true));
    const seen: Buffer[] = [];
    let sawFirstBeforeEnd = false;
    while (!ended) {
      const live = await readLive(storage, 'run-1/build/1');
      if (live) {
        seen.push(live.stdout);
        if (!ended && live.stdout.toString() === 'first\n' && live.stderr.toString() === 'oops\n') sawFirstBeforeEnd = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { record } = await running;
    expect(sawFirstBeforeEnd).toBe(true);
    const stored = (await blob(record.artifacts.stdout))!;
    expect(stored).toBe('first\ntoken [redacted:API_TOKEN]\nlast\n');
    for (const prefix of seen) expect(stored.startsWith(prefix.toString())).toBe(true);
    expect(seen.some((prefix) => prefix.toString().includes('[redacted:API_TOKEN]'))).toBe(true);
    for (const bytes of storage.backend.values()) expect(Buffer.from(bytes).includes(secret)).toBe(false);
    expect([...storage.backend.keys()].filter((key) => key.startsWith('live-logs/'))).toEqual([]);
  });

  test('output longer than a segment spans segments; at the cap the progress says truncated and holds exactly the kept bytes', async () => {
    const { dispatch, storage, blob } = await setUp();
    const running = dispatch({
      // 200,000 bytes at once, then a pause long enough to read the live log.
      argv: ['/bin/sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" a; sleep 1.5'],
      manifest: { limits: { timeoutMs: 10_000, network: false, maxPatchBytes: 1_000, maxLogBytes: 150_000 } },
    });
    let live: Awaited<ReturnType<typeof readLive>>;
    for (let tries = 0; tries < 40; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      live = await readLive(storage, 'run-1/build/1');
      if (live?.state.stdout.truncated) break;
    }
    expect(live!.state.stdout).toEqual({ bytes: 150_000, truncated: true });
    expect(live!.stdout.equals(Buffer.alloc(150_000, 'a'))).toBe(true);
    expect(storage.backend.has(liveLogSegmentKey('run-1/build/1', 'stdout', 2))).toBe(true);
    expect(storage.backend.has(liveLogSegmentKey('run-1/build/1', 'stdout', 3))).toBe(false);
    const { record } = await running;
    const stored = (await blob(record.artifacts.stdout))!;
    expect(stored.startsWith(live!.stdout.toString())).toBe(true);
    expect(stored).toContain('stdout truncated: kept the first 150000 of 200000 bytes');
    expect([...storage.backend.keys()].filter((key) => key.startsWith('live-logs/'))).toEqual([]);
  });

  test('output that keeps coming while the live log is written is neither lost nor doubled', async () => {
    const { dispatch, storage, blob } = await setUp();
    const running = dispatch({ argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 120 ]; do echo "line $i"; sleep 0.01; i=$((i+1)); done'] });
    let ended = false;
    void running.then(() => (ended = true));
    const seen: string[] = [];
    while (!ended) {
      const live = await readLive(storage, 'run-1/build/1');
      if (live) seen.push(live.stdout.toString());
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const { record } = await running;
    const stored = (await blob(record.artifacts.stdout))!;
    expect(stored).toBe(Array.from({ length: 120 }, (_, index) => `line ${index}\n`).join(''));
    expect(new Set(seen.filter((text) => text !== '')).size).toBeGreaterThan(1);
    for (const prefix of seen) expect(stored.startsWith(prefix)).toBe(true);
  });

  test('an attempt that writes nothing writes no live log', async () => {
    const { dispatch, storage } = await setUp();
    const { record } = await dispatch({ argv: ['/bin/sh', '-c', 'true'] });
    expect(record.outcome).toBe('succeeded');
    expect([...storage.backend.keys()].filter((key) => key.startsWith('live-logs/'))).toEqual([]);
  });
});
