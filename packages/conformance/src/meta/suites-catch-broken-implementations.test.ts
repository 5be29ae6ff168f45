// Proves the suites can fail: each row runs one case against an implementation broken in exactly
// the way the case exists to catch, expects a rejection, and runs the same case against the
// correct mock to show that the break, not the case, is what fails.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import type {
  AnchorReceipt,
  AnchoredCheckpoint,
  AuthorizationResource,
  CipherContext,
  Digest,
  CipherEnvelope,
  ExecutionHandle,
  ExecutionStatus,
  RuntimeInvocation,
  RuntimeResult,
  StoragePutOptions,
  StoragePutResult,
  StorageListOptions,
  StorageListPage,
  StorageProviderV1,
} from '@cairn/core';
import { runConformanceCase } from '../harness/run-conformance-case.ts';
import type { ConformanceCase } from '../harness/conformance-case.ts';
import type { SuiteOptions } from '../harness/suite-options.ts';
import { auditAnchorCases } from '../audit-anchor/audit-anchor-cases.ts';
import { authorizerCases } from '../authorizer/authorizer-cases.ts';
import { cipherCases } from '../cipher/cipher-cases.ts';
import { executorCases } from '../executor/executor-cases.ts';
import type { ExecutorSuiteOptions } from '../executor/executor-suite-options.ts';
import { runtimeAdapterCases } from '../runtime-adapter/runtime-adapter-cases.ts';
import { signerCases } from '../signer/signer-cases.ts';
import { storageProviderCases } from '../storage-provider/storage-provider-cases.ts';
import type { StorageProviderSuiteOptions } from '../storage-provider/storage-provider-suite-options.ts';
import { createInMemoryAuditAnchor, InMemoryAuditAnchor } from '../mocks/in-memory-audit-anchor.ts';
import { createInMemoryAuthorizer, InMemoryAuthorizer, type InMemoryAuthorizerSettings } from '../mocks/in-memory-authorizer.ts';
import { createInMemoryCipher, InMemoryCipher } from '../mocks/in-memory-cipher.ts';
import { createInMemoryExecutor, InMemoryExecutor, type InMemoryExecutorSettings, type InMemoryTask } from '../mocks/in-memory-executor.ts';
import { createInMemoryRuntimeAdapter, InMemoryRuntimeAdapter, inMemoryScenarioSpec, readInMemoryScript } from '../mocks/in-memory-runtime-adapter.ts';
import { InMemorySigner } from '../mocks/in-memory-signer.ts';
import { createInMemoryStorageProvider, InMemoryStorageProvider } from '../mocks/in-memory-storage-provider.ts';
import { behaviourManifests } from '../executor/behaviour-manifests.test-support.ts';
import { isCairnError, sha256Digest } from '@cairn/protocol';

const manifests = behaviourManifests();

interface Row {
  readonly broken: string;
  readonly caseId: string;
  readonly cases: readonly ConformanceCase<unknown, unknown>[];
  readonly brokenOptions: SuiteOptions<unknown, unknown>;
  readonly correctOptions: SuiteOptions<unknown, unknown>;
}

function row<Instance, Oracle, Options extends SuiteOptions<Instance, Oracle>>(
  broken: string,
  cases: readonly ConformanceCase<Instance, Oracle, Options>[],
  caseId: string,
  // Typed where each is built (a concrete class's options do not widen to the seam's; see describe*).
  brokenOptions: object,
  correctOptions: object,
): Row {
  return { broken, caseId, cases, brokenOptions, correctOptions } as unknown as Row;
}

// --- storage --------------------------------------------------------------------------------

/** If-absent as check-then-act with an await in between: the classic lost race. */
class RacyStorage extends InMemoryStorageProvider {
  override async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    if (options.ifAbsent && (await this.head(key)) !== null) return { written: false };
    await sleep(1);
    return super.put(key, body);
  }
}

/** Sorts keys as JavaScript strings (UTF-16 code units), not UTF-8 bytes. */
class StringOrderStorage extends InMemoryStorageProvider {
  override async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const keys = [...this.backend.keys()].filter((key) => key.startsWith(options.prefix ?? '')).sort();
    return { keys, cursor: null };
  }
}

/** Clamps a bad page size into range instead of refusing it. */
class ClampingStorage extends InMemoryStorageProvider {
  override list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const { limit, ...rest } = options;
    return super.list(Number.isInteger(limit) ? { ...rest, limit: Math.min(Math.max(limit!, 1), 1000) } : rest);
  }
}

/** Normalises keys instead of refusing them ('a/../b' becomes 'b'). */
class LenientStorage extends InMemoryStorageProvider {
  override async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    return super.put(join('/', key).slice(1) || 'root', body, options);
  }
}

/** Throws for a missing key instead of resolving to null. */
class ThrowingStorage extends InMemoryStorageProvider {
  override async get(key: string): Promise<Uint8Array | null> {
    const body = await super.get(key);
    if (body === null) throw new Error('not found');
    return body;
  }
}

/** Serves bodies from a cache filled on put: never sees what the backend holds. */
class CachingStorage extends InMemoryStorageProvider {
  readonly #cache = new Map<string, Uint8Array>();
  override async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    this.#cache.set(key, Uint8Array.from(body));
    return super.put(key, body, options);
  }
  override async get(key: string): Promise<Uint8Array | null> {
    return this.#cache.get(key) ?? null;
  }
}

/** Returns a view of its internal buffer. */
class SharingStorage extends InMemoryStorageProvider {
  override async put(key: string, body: Uint8Array): Promise<StoragePutResult> {
    this.backend.set(key, body);
    return { written: true };
  }
}

/** Stores what it had received when its body threw. */
class PartialStreamStorage extends InMemoryStorageProvider {
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(Buffer.from(chunk));
    } finally {
      await super.put(key, Buffer.concat(chunks), options);
    }
    return { written: true };
  }
}

/** Answers an if-absent putStream of a stored key at once, leaving its body unread. */
class HastyStreamStorage extends InMemoryStorageProvider {
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    if (options.ifAbsent === true && this.backend.has(key)) return { written: false };
    return super.putStream(key, body, options);
  }
}

/** Keeps the chunks it is handed without copying them, though the producer may reuse them. */
class ViewKeepingStreamStorage extends InMemoryStorageProvider {
  override async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of body) chunks.push(chunk);
    return super.put(key, Buffer.concat(chunks), options);
  }
}

function storageOptions(create: () => InMemoryStorageProvider): StorageProviderSuiteOptions {
  const backendOf = (storage: StorageProviderV1) => (storage as InMemoryStorageProvider).backend;
  return {
    name: 'meta',
    create,
    oracle: (storage) => ({
      readRaw: (key) => backendOf(storage).get(key) ?? null,
      writeRaw: (key, body) => void backendOf(storage).set(key, Uint8Array.from(body)),
    }),
  };
}

// --- executor -------------------------------------------------------------------------------

const task: InMemoryTask = async (request, signal) => {
  const behaviour = manifests.behaviourOf(request);
  if (behaviour.kind === 'succeed') return 0;
  if (behaviour.kind === 'fail') return behaviour.exitCode;
  await sleep(60_000, undefined, { signal }).catch(() => undefined);
  return 130;
};

/** Forgets which executions it started: every start runs the task again. */
class ForgetfulExecutor extends InMemoryExecutor {
  override async start(request: Parameters<InMemoryExecutor['start']>[0]): Promise<ExecutionHandle> {
    this.registry.executions.delete(request.executionId);
    return super.start(request);
  }
}

/**
 * Executor options whose task body feeds the oracle's run count, for the executor `build` makes
 * (the correct one by default). A restart is a correct executor over the same registry, or over
 * none when `restart` is 'amnesic' (the persisted handle then means nothing).
 */
function countedExecutor(
  build: (settings: InMemoryExecutorSettings) => InMemoryExecutor = createInMemoryExecutor,
  restart: 'keeps-state' | 'amnesic' = 'keeps-state',
): ExecutorSuiteOptions<InMemoryExecutor> {
  const runs = new Map<string, number>();
  const counted: InMemoryTask = (request, signal) => {
    runs.set(request.executionId, (runs.get(request.executionId) ?? 0) + 1);
    return task(request, signal);
  };
  return {
    name: 'meta',
    create: () => build({ run: counted }),
    restart: (executor) => createInMemoryExecutor({ run: counted, ...(restart === 'amnesic' ? {} : { registry: executor.registry }) }),
    task: (behaviour, executionId) => manifests.envelope(behaviour, executionId),
    // The oracle counts runs in the task body itself, so it also sees a broken executor's reruns.
    oracle: () => ({ runCount: (executionId) => runs.get(executionId) ?? 0 }),
    settleTimeoutMs: 1_000,
  };
}

/** Accepts any handle-shaped value: inspect of garbage reports 'unknown' instead of refusing. */
class TrustingExecutor extends InMemoryExecutor {
  override async inspect(handle: ExecutionHandle) {
    try {
      return await super.inspect(handle);
    } catch {
      return { state: 'unknown' as const };
    }
  }
}

/** Forgets a task once it has reported its exit: the next inspect says 'unknown'. */
class ReapingExecutor extends InMemoryExecutor {
  override async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const status = await super.inspect(handle);
    if (status.state === 'exited') this.registry.executions.delete(handle.executionId);
    return status;
  }
}

/** Throws for a task it does not know instead of answering 'unknown'. */
class NotFoundExecutor extends InMemoryExecutor {
  override async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const status = await super.inspect(handle);
    if (status.state === 'unknown') throw new Error(`no task ${handle.executionId}`);
    return status;
  }
}

/** Keeps a live object in its handles. */
class LiveHandleExecutor extends InMemoryExecutor {
  override async start(request: Parameters<InMemoryExecutor['start']>[0]): Promise<ExecutionHandle> {
    return { ...(await super.start(request)), startedAt: new Date() as unknown as string };
  }
}

/** Reports a killed task's exit code as Node gives it (`child.exitCode`): null. */
class NullExitCodeExecutor extends InMemoryExecutor {
  override async inspect(handle: ExecutionHandle): Promise<ExecutionStatus> {
    const status = await super.inspect(handle);
    return status.outcome === 'cancelled' ? { ...status, exitCode: null as unknown as number } : status;
  }
}

/** Declares pushed completions but tells every listener twice. */
class StutteringExecutor extends InMemoryExecutor {
  override onExit(listener: Parameters<InMemoryExecutor['onExit']>[0]): () => void {
    return super.onExit((executionId, status) => {
      listener(executionId, status);
      listener(executionId, status);
    });
  }
}

/** Pushes exits but says it does not: an engine would never listen. */
class UndeclaredPushExecutor extends InMemoryExecutor {
  override readonly capabilities = { cancel: true, pushesCompletions: false } as unknown as InMemoryExecutor['capabilities'];
}

// --- audit anchor ---------------------------------------------------------------------------

type AnchorInput = Parameters<InMemoryAuditAnchor['anchor']>[0];
type AnchorReference = Parameters<InMemoryAuditAnchor['read']>[0];

/** Serves what it anchored from memory: tampering in the backend is invisible. */
class CachingAnchor extends InMemoryAuditAnchor {
  readonly #cache = new Map<string, AnchoredCheckpoint>();
  override async anchor(checkpoint: AnchorInput): Promise<AnchorReceipt> {
    const receipt = await super.anchor(checkpoint);
    const key = `${checkpoint.origin} ${checkpoint.treeSize} ${checkpoint.rootHash}`;
    if (!this.#cache.has(key)) this.#cache.set(key, { envelope: Uint8Array.from(checkpoint.envelope), receipt });
    return receipt;
  }
  override async read(reference: AnchorReference): Promise<AnchoredCheckpoint | null> {
    return this.#cache.get(`${reference.origin} ${reference.treeSize} ${reference.rootHash}`) ?? super.read(reference);
  }
}

/** Loses its way when a verifier hands it the bundle's receipt: finds nothing. */
class ReceiptBlindAnchor extends InMemoryAuditAnchor {
  override async read(reference: AnchorReference, receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null> {
    return receipt === undefined ? super.read(reference) : null;
  }
}

/** Reads live but returns whatever the backend holds, without checking it against the receipt. */
class UncheckedAnchor extends InMemoryAuditAnchor {
  override async read(reference: AnchorReference): Promise<AnchoredCheckpoint | null> {
    try {
      return await super.read(reference);
    } catch (error) {
      if (!isCairnError(error, 'CAIRN_ANCHOR_TAMPERED')) throw error;
      const location = String(error.details['location']);
      return { envelope: this.backend.objects.get(location)!, receipt: this.backend.anchored.get(location)!.receipt };
    }
  }
}

/** Binds its receipts to the root hash instead of the envelope bytes. */
class UnboundReceiptAnchor extends InMemoryAuditAnchor {
  override async anchor(checkpoint: AnchorInput): Promise<AnchorReceipt> {
    return { ...(await super.anchor(checkpoint)), envelopeDigest: sha256Digest(checkpoint.rootHash) };
  }
}

/** Re-anchors a tree head it already holds: the last envelope and receipt win. */
class LastWriterAnchor extends InMemoryAuditAnchor {
  override async anchor(checkpoint: AnchorInput): Promise<AnchorReceipt> {
    for (const [location, entry] of this.backend.anchored) if (entry.rootHash === checkpoint.rootHash) this.backend.anchored.delete(location);
    return super.anchor(checkpoint);
  }
}

/** Lets a later checkpoint of the same size replace the anchored one: history can be rewritten. */
class OverwritingAnchor extends InMemoryAuditAnchor {
  override async anchor(checkpoint: AnchorInput): Promise<AnchorReceipt> {
    this.backend.anchored.clear();
    return super.anchor(checkpoint);
  }
}

/** Checks for an anchored tree size, then writes after an await: two writers can both win. */
class RacyAnchor extends InMemoryAuditAnchor {
  override async anchor(checkpoint: AnchorInput): Promise<AnchorReceipt> {
    const taken = () =>
      [...this.backend.anchored].find(([, entry]) => entry.receipt.origin === checkpoint.origin && entry.receipt.treeSize === checkpoint.treeSize);
    if (taken() === undefined) {
      await sleep(1);
      const raced = taken();
      if (raced !== undefined) this.backend.anchored.delete(raced[0]);
    }
    return super.anchor(checkpoint);
  }
}

function anchorOptions(create: () => InMemoryAuditAnchor) {
  return {
    name: 'meta',
    create,
    oracle: (anchor: InMemoryAuditAnchor) => ({
      readRaw: (location: string) => anchor.backend.objects.get(location) ?? null,
      writeRaw: (location: string, bytes: Uint8Array) => void anchor.backend.objects.set(location, Uint8Array.from(bytes)),
    }),
  };
}

// --- signer ---------------------------------------------------------------------------------

/** Publishes one key and signs with another. */
class KeySwappingSigner extends InMemorySigner {
  readonly #other = generateKeyPairSync('ed25519').privateKey;
  override async sign(message: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(sign(null, message, this.#other));
  }
}

/** Fingerprints the PEM text of its key instead of the DER bytes. */
class PemKeyIdSigner extends InMemorySigner {
  override async keyId(): Promise<Digest> {
    const pem = createPublicKey({ key: Buffer.from(await this.publicKey()), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' });
    return sha256Digest(pem);
  }
}

/** Uses a made-up key id instead of the documented fingerprint. */
class NamedKeySigner extends InMemorySigner {
  override async keyId(): Promise<Digest> {
    return 'my-signing-key' as Digest;
  }
}

/** ECDSA in IEEE P1363 (r||s) instead of DER. */
class RawEcdsaSigner extends InMemorySigner {
  readonly #key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  constructor() {
    super({ algorithm: 'ecdsa-p256-sha256' });
  }
  override async sign(message: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(sign('sha256', message, { key: this.#key, dsaEncoding: 'ieee-p1363' }));
  }
}

// --- cipher ---------------------------------------------------------------------------------

/** Drops the context: any context decrypts. */
class ContextBlindCipher extends InMemoryCipher {
  override encrypt(plaintext: Uint8Array): Promise<CipherEnvelope> {
    return super.encrypt(plaintext, {});
  }
  override decrypt(envelope: CipherEnvelope): Promise<Uint8Array> {
    return super.decrypt(envelope, {});
  }
}

/** Binds the context in insertion order, so the same context written differently fails. */
class OrderSensitiveCipher extends InMemoryCipher {
  override encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    return super.encrypt(plaintext, { order: Object.keys(context).join(','), ...context });
  }
  override decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    return super.decrypt(envelope, { order: Object.keys(context).join(','), ...context });
  }
}

/** Reuses one IV: identical plaintexts give identical envelopes (and GCM's key stream leaks). */
class FixedIvCipher extends InMemoryCipher {
  #first: Map<string, CipherEnvelope> = new Map();
  override async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    const id = createHash('sha256').update(plaintext).update(JSON.stringify(context)).digest('hex');
    const known = this.#first.get(id);
    if (known) return known;
    const envelope = await super.encrypt(plaintext, context);
    this.#first.set(id, envelope);
    return envelope;
  }
}

/**
 * Envelope encryption in miniature: a per-envelope "wrapped key" travels as encryptedKey and is
 * bound into the AAD, so altering or dropping it fails like a KMS unwrap would.
 */
class WrappedKeyCipher extends InMemoryCipher {
  override async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    const encryptedKey = randomBytes(32).toString('base64');
    return { ...(await super.encrypt(plaintext, { ...context, '~encryptedKey': encryptedKey })), encryptedKey };
  }
  override decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    return super.decrypt(envelope, { ...context, '~encryptedKey': envelope.encryptedKey ?? '' });
  }
}

/** Carries an encryptedKey it never uses: altering it changes nothing. */
class DecorativeKeyCipher extends InMemoryCipher {
  override async encrypt(plaintext: Uint8Array, context: CipherContext): Promise<CipherEnvelope> {
    return { ...(await super.encrypt(plaintext, context)), encryptedKey: randomBytes(32).toString('base64') };
  }
}

/** Reports a bare Error instead of CAIRN_CIPHER_DECRYPT_FAILED. */
class UncodedCipher extends InMemoryCipher {
  override async decrypt(envelope: CipherEnvelope, context: CipherContext): Promise<Uint8Array> {
    try {
      return await super.decrypt(envelope, context);
    } catch {
      throw new Error('bad decrypt');
    }
  }
}

// --- authorizer -----------------------------------------------------------------------------

const authorizerSettings: InMemoryAuthorizerSettings = {
  tokens: [{ token: 'cairn_meta_token_0123', actor: { kind: 'token', id: 'meta' }, scopes: ['runs:write'] }],
  actions: { 'run.submit': 'runs:write', 'audit.export': 'audit:read' },
};
const authorizerFixture = {
  credential: 'cairn_meta_token_0123',
  actor: { kind: 'token', id: 'meta' } as const,
  allowed: [{ action: 'run.submit', resource: { kind: 'run', id: 'r' } }],
  denied: [{ action: 'audit.export', resource: { kind: 'audit', id: 'log' } }],
};

/** Accepts any credential that starts with a known token (a truncated comparison). */
class PrefixAuthorizer extends InMemoryAuthorizer {
  override async authenticate(credential: string) {
    return super.authenticate(credential.slice(0, authorizerFixture.credential.length));
  }
}

/** Allows what it does not know. */
class PermissiveAuthorizer extends InMemoryAuthorizer {
  override async authorize(principal: Parameters<InMemoryAuthorizer['authorize']>[0], action: string, resource: AuthorizationResource) {
    const decision = await super.authorize(principal, action, resource);
    return action in authorizerSettings.actions ? decision : { allowed: true, reason: 'not restricted' };
  }
}

/** Throws on a malformed credential instead of resolving to null. */
class ThrowingAuthorizer extends InMemoryAuthorizer {
  override async authenticate(credential: string) {
    if (credential.trim() === '') throw new Error('empty credential');
    return super.authenticate(credential);
  }
}

function authorizerOptions(create: () => InMemoryAuthorizer) {
  return { name: 'meta', create, fixture: authorizerFixture };
}

// --- runtime adapter ------------------------------------------------------------------------

/** Keeps a run log beside the workspace, the way a careless adapter writes its own files. */
class LoggingBesideRuntime extends InMemoryRuntimeAdapter {
  override async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    await appendFile(join(dirname(invocation.workspace), 'runtime.log'), 'ran\n');
    return super.run(invocation);
  }
}

/** Ignores the abort signal and runs to its own end. */
class DeafRuntime extends InMemoryRuntimeAdapter {
  override async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    if (readInMemoryScript(invocation.spec).some((step) => 'waitForAbort' in step)) {
      await sleep(1_000);
      return { exitCode: 0, aborted: false };
    }
    return super.run({ ...invocation, signal: new AbortController().signal });
  }
}

/** Runs whatever spec it is handed: a spec meant for another adapter "succeeds" here. */
class OmnivorousRuntime extends InMemoryRuntimeAdapter {
  override run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const own = invocation.spec.kind === 'agent' && invocation.spec.adapter === this.kind;
    return own ? super.run(invocation) : Promise.resolve({ exitCode: 0, aborted: false });
  }
}

/** Sends everything to stdout. */
class MergedOutputRuntime extends InMemoryRuntimeAdapter {
  override run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    return super.run({ ...invocation, sinks: { stdout: invocation.sinks.stdout, stderr: invocation.sinks.stdout } });
  }
}

// The abort limit is generous so a loaded machine never fails the correct runtime on time: the deaf
// one is caught by what it reports (it ran on to exit 0, not aborted), not by the clock.
function runtimeOptions(create: () => InMemoryRuntimeAdapter) {
  return { name: 'meta', create, scenario: inMemoryScenarioSpec, abortTimeoutMs: 10_000 };
}

// --- the table ------------------------------------------------------------------------------

const rows: Row[] = [
  row(
    'storage: if-absent is check-then-act',
    storageProviderCases,
    'put-if-absent-concurrent',
    storageOptions(() => new RacyStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: lists in UTF-16 order',
    storageProviderCases,
    'list-byte-order',
    storageOptions(() => new StringOrderStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: clamps a bad list limit',
    storageProviderCases,
    'list-invalid',
    storageOptions(() => new ClampingStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: normalises ".." instead of refusing',
    storageProviderCases,
    'refuses-dot-segments',
    storageOptions(() => new LenientStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: get of a missing key throws',
    storageProviderCases,
    'missing-is-null',
    storageOptions(() => new ThrowingStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: putStream keeps what came before its body failed',
    storageProviderCases,
    'put-stream-body-fails',
    storageOptions(() => new PartialStreamStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: an if-absent putStream leaves its body unread',
    storageProviderCases,
    'put-stream-if-absent',
    storageOptions(() => new HastyStreamStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: putStream keeps chunks the producer reuses',
    storageProviderCases,
    'put-stream-round-trip',
    storageOptions(() => new ViewKeepingStreamStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: reads from a cache, not the backend',
    storageProviderCases,
    'backend-write-visible',
    storageOptions(() => new CachingStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'storage: keeps the caller’s buffer',
    storageProviderCases,
    'bodies-are-copied',
    storageOptions(() => new SharingStorage()),
    storageOptions(createInMemoryStorageProvider),
  ),
  row(
    'executor: start is not idempotent',
    executorCases,
    'start-idempotent',
    countedExecutor((settings) => new ForgetfulExecutor(settings)),
    countedExecutor(),
  ),
  row('executor: state does not survive a restart', executorCases, 'restart-inspect', countedExecutor(createInMemoryExecutor, 'amnesic'), countedExecutor()),
  row(
    'executor: pushed exits are repeated',
    executorCases,
    'pushes-exit',
    countedExecutor((settings) => new StutteringExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: onExit without declaring pushesCompletions',
    executorCases,
    'pushes-exit',
    countedExecutor((settings) => new UndeclaredPushExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: forgets a task once it reported the exit',
    executorCases,
    'exited-is-final',
    countedExecutor((settings) => new ReapingExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: inspect of an unknown task throws',
    executorCases,
    'cancel-unknown-harmless',
    countedExecutor((settings) => new NotFoundExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: a live object in the handle',
    executorCases,
    'handle-is-json',
    countedExecutor((settings) => new LiveHandleExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: a killed task has exitCode null',
    executorCases,
    'cancel-running',
    countedExecutor((settings) => new NullExitCodeExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'executor: garbage handles are accepted',
    executorCases,
    'malformed-handle',
    countedExecutor((settings) => new TrustingExecutor(settings)),
    countedExecutor(),
  ),
  row(
    'anchor: reads from a cache',
    auditAnchorCases,
    'tampering-per-guarantee',
    anchorOptions(() => new CachingAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: returns tampered bytes unchecked',
    auditAnchorCases,
    'tampering-per-guarantee',
    anchorOptions(() => new UncheckedAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: a read with the receipt finds nothing',
    auditAnchorCases,
    'read-with-receipt',
    anchorOptions(() => new ReceiptBlindAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: receipt not bound to the envelope bytes',
    auditAnchorCases,
    'receipt-bound-to-checkpoint',
    anchorOptions(() => new UnboundReceiptAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: a re-signed envelope replaces the first',
    auditAnchorCases,
    'anchor-idempotent',
    anchorOptions(() => new LastWriterAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: a checkpoint can be replaced',
    auditAnchorCases,
    'refuses-rewrite',
    anchorOptions(() => new OverwritingAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'anchor: conflicting anchorings race',
    auditAnchorCases,
    'conflict-concurrent',
    anchorOptions(() => new RacyAnchor()),
    anchorOptions(createInMemoryAuditAnchor),
  ),
  row(
    'signer: signs with another key than it publishes',
    signerCases,
    'verifies-offline',
    { name: 'meta', create: () => new KeySwappingSigner() },
    { name: 'meta', create: () => new InMemorySigner() },
  ),
  row(
    'signer: key id is not the fingerprint',
    signerCases,
    'key-id-is-fingerprint',
    { name: 'meta', create: () => new NamedKeySigner() },
    { name: 'meta', create: () => new InMemorySigner() },
  ),
  row(
    'signer: key id of the PEM text',
    signerCases,
    'key-id-is-fingerprint',
    { name: 'meta', create: () => new PemKeyIdSigner() },
    { name: 'meta', create: () => new InMemorySigner() },
  ),
  row(
    'signer: ECDSA not in DER',
    signerCases,
    'algorithm-matches-key',
    { name: 'meta', create: () => new RawEcdsaSigner() },
    { name: 'meta', create: () => new InMemorySigner({ algorithm: 'ecdsa-p256-sha256' }) },
  ),
  row(
    'cipher: ignores the context',
    cipherCases,
    'wrong-context',
    { name: 'meta', create: () => new ContextBlindCipher() },
    { name: 'meta', create: createInMemoryCipher },
  ),
  row(
    'cipher: context bound in key order',
    cipherCases,
    'context-key-order',
    { name: 'meta', create: () => new OrderSensitiveCipher() },
    { name: 'meta', create: createInMemoryCipher },
  ),
  row(
    'cipher: reuses its IV',
    cipherCases,
    'fresh-randomness',
    { name: 'meta', create: () => new FixedIvCipher() },
    { name: 'meta', create: createInMemoryCipher },
  ),
  row(
    'cipher: encryptedKey not bound',
    cipherCases,
    'tampered-encrypted-key',
    { name: 'meta', create: () => new DecorativeKeyCipher() },
    { name: 'meta', create: () => new WrappedKeyCipher() },
  ),
  row(
    'cipher: uncoded decryption error',
    cipherCases,
    'tampered-tag',
    { name: 'meta', create: () => new UncodedCipher() },
    { name: 'meta', create: createInMemoryCipher },
  ),
  row(
    'authorizer: prefix match of tokens',
    authorizerCases,
    'unknown-credential-null',
    authorizerOptions(() => new PrefixAuthorizer(authorizerSettings)),
    authorizerOptions(() => createInMemoryAuthorizer(authorizerSettings)),
  ),
  row(
    'authorizer: throws on an empty credential',
    authorizerCases,
    'unknown-credential-null',
    authorizerOptions(() => new ThrowingAuthorizer(authorizerSettings)),
    authorizerOptions(() => createInMemoryAuthorizer(authorizerSettings)),
  ),
  row(
    'authorizer: allows unknown actions',
    authorizerCases,
    'denies-unknown-action',
    authorizerOptions(() => new PermissiveAuthorizer(authorizerSettings)),
    authorizerOptions(() => createInMemoryAuthorizer(authorizerSettings)),
  ),
  row(
    'runtime: writes a log beside the workspace',
    runtimeAdapterCases,
    'writes-in-workspace',
    runtimeOptions(() => new LoggingBesideRuntime()),
    runtimeOptions(createInMemoryRuntimeAdapter),
  ),
  row(
    'runtime: ignores the abort signal',
    runtimeAdapterCases,
    'abort-stops',
    runtimeOptions(() => new DeafRuntime()),
    runtimeOptions(createInMemoryRuntimeAdapter),
  ),
  row(
    'runtime: runs a spec of another adapter',
    runtimeAdapterCases,
    'refuses-foreign-spec',
    runtimeOptions(() => new OmnivorousRuntime()),
    runtimeOptions(createInMemoryRuntimeAdapter),
  ),
  row(
    'runtime: stderr goes to the stdout sink',
    runtimeAdapterCases,
    'output-sinks',
    runtimeOptions(() => new MergedOutputRuntime()),
    runtimeOptions(createInMemoryRuntimeAdapter),
  ),
];

describe('the conformance suites catch broken implementations', () => {
  test.each(rows.map((entry) => [entry.broken, entry] as const))('%s', async (_, entry) => {
    await expect(runConformanceCase(entry.cases, entry.caseId, entry.correctOptions), `"${entry.caseId}" passes on the correct mock`).resolves.toBeUndefined();
    await expect(runConformanceCase(entry.cases, entry.caseId, entry.brokenOptions), `"${entry.caseId}" fails on the broken one`).rejects.toThrow();
  });

  test('every case id in the table exists, and a case that would skip is an error rather than a pass', async () => {
    await expect(runConformanceCase(storageProviderCases, 'no-such-case', storageOptions(createInMemoryStorageProvider))).rejects.toThrow(
      /no case "no-such-case"/,
    );
    await expect(runConformanceCase(storageProviderCases, 'put-reaches-backend', { name: 'meta', create: createInMemoryStorageProvider })).rejects.toThrow(
      /would be skipped/,
    );
    // An executor without the cancel capability is not failed for not stopping a task at once.
    const withoutCancel = countedExecutor((settings) =>
      Object.defineProperty(createInMemoryExecutor(settings), 'capabilities', { value: { cancel: false, pushesCompletions: true } }),
    );
    await expect(runConformanceCase(executorCases, 'cancel-running', withoutCancel as unknown as ExecutorSuiteOptions)).rejects.toThrow(
      /would be skipped: .*"cancel" capability/,
    );
  });

  test('case ids are unique within each suite', () => {
    for (const cases of [storageProviderCases, executorCases, auditAnchorCases, signerCases, cipherCases, authorizerCases, runtimeAdapterCases]) {
      const ids = cases.map((entry) => entry.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});
