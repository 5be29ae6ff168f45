import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DispatchManifest, PublicKeyRecord, RuntimeSpec, TaskEnvelope, TaskGateway } from '@cairn/core';
import { preAuthenticationEncoding } from '@cairn/audit';
import { workerTestRootfs, type WorkerTestRootfs } from '@cairn/fargate/testing';
import { createKmsCipher, type KmsCipher } from '@cairn/kms';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';
import { createS3StorageProvider, type S3StorageProvider } from '@cairn/s3';
import { createTestBucket, radosgwClient, radosgwConnection } from '@cairn/s3/testing';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { KubernetesExecutor, type KubernetesExecutorSettings } from '../executor/kubernetes-executor.ts';
import { KubernetesTestEndpoint } from './kubernetes-test-endpoint.ts';
import type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';

/** The worker image's reference in the tests' pods. */
export const workerImage = 'ghcr.io/cairn-dev/cairn-worker:test';

/** What a Kubernetes executor test runs against: the API endpoint, a radosgw bucket, a KMS endpoint, an engine signing key. */
export interface KubernetesWorld {
  readonly endpoint: KubernetesTestEndpoint;
  readonly kms: KmsTestEndpoint;
  readonly bucket: string;
  readonly storage: S3StorageProvider;
  readonly cipher: KmsCipher;
  readonly key: PublicKeyRecord;
  /** The test S3 server's credentials: what each attempt's Secret must carry for its worker to reach storage. */
  readonly storageCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  settings(overrides?: Partial<KubernetesExecutorSettings>): KubernetesExecutorSettings;
  /** An executor over this world (closed after the test) whose `start` first waits for the task's manifest to be stored. */
  executor(overrides?: Partial<KubernetesExecutorSettings>): KubernetesExecutor;
  /** A task whose signed manifest runs `runtime`; its manifest is written to the bucket before `executor().start` sends it. */
  task(
    executionId: string,
    runtime: RuntimeSpec,
    options?: { secrets?: Record<string, string>; gateway?: TaskGateway; manifest?: Partial<DispatchManifest> },
  ): TaskEnvelope;
}

/**
 * One world for a test file: a bucket on the test S3 server, a KMS endpoint with a symmetric key,
 * and a Kubernetes API endpoint whose image `workerImage` is the worker's stand-in root filesystem
 * (the built `cairn-worker.js`). Unlike the Fargate world, the image's environment holds NO storage
 * credentials: the executor puts them in each attempt's Secret, so a worker that succeeds read them
 * from there.
 */
export function kubernetesWorldForFile(endpointOptions: Partial<KubernetesTestEndpointOptions> = {}): () => KubernetesWorld {
  let world: KubernetesWorld | undefined;
  let rootfs: WorkerTestRootfs | undefined;
  let workerCopy: string | undefined;
  const executors: KubernetesExecutor[] = [];
  beforeAll(async () => {
    const connection = radosgwConnection();
    const bucket = await createTestBucket(radosgwClient());
    const kms = await KmsTestEndpoint.start();
    const kmsKeyId = kms.createKey('SYMMETRIC_DEFAULT').keyId;
    // The worker bundle copied once, as built by the global setup: a build of @cairn/fargate in the
    // same tree meanwhile (another test run) rewrites dist/ under running pods otherwise.
    workerCopy = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-worker-'));
    const workerScript = join(workerCopy, 'cairn-worker.js');
    copyFileSync(join(dirname(createRequire(import.meta.url).resolve('@cairn/fargate/package.json')), 'dist', 'cairn-worker.js'), workerScript);
    rootfs = workerTestRootfs({ workerScript, environment: { AWS_REGION: connection.region } });
    const endpoint = await KubernetesTestEndpoint.start({ images: { [workerImage]: rootfs.definition }, ...endpointOptions });
    const storage = createS3StorageProvider({ bucket, client: radosgwClient() });
    const cipher = createKmsCipher({ keyId: kmsKeyId, client: kms.client() });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const der = publicKey.export({ format: 'der', type: 'spki' });
    const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };
    const pending = new Map<string, Promise<unknown>>();
    const storageCredentials = { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey };
    const portOf = (url: string) => Number(new URL(url).port);
    const settings = (overrides: Partial<KubernetesExecutorSettings> = {}): KubernetesExecutorSettings => ({
      kubeConfig: endpoint.kubeConfig(),
      namespace: endpoint.namespace,
      image: workerImage,
      network: { egress: [{ cidr: '127.0.0.1/32', ports: [portOf(connection.endpoint), portOf(kms.url)] }] },
      storage,
      taskStorage: { bucket, endpoint: connection.endpoint, region: connection.region, forcePathStyle: true },
      cipher,
      taskCipher: { keyId: kmsKeyId, endpoint: kms.url, region: 'us-east-1' },
      trustedKeys: [key],
      // The KMS endpoint checks that requests are signed, not by whom: one set of credentials does for both.
      taskCredentials: storageCredentials,
      ...overrides,
    });
    world = {
      endpoint,
      kms,
      bucket,
      storage,
      cipher,
      key,
      storageCredentials,
      settings,
      executor: (overrides = {}) => {
        const executor = new ManifestAwaitingExecutor(settings(overrides), pending);
        executors.push(executor);
        return executor;
      },
      task: (executionId, runtime, options = {}) => {
        // An engine's execution id is `<runId>/<itemId>/<attempt>`; the conformance suite's are plain.
        const parts = executionId.split('/');
        const [runId, itemId, attempt] =
          parts.length === 3 && /^\d+$/.test(parts[2]!)
            ? [parts[0]!, parts[1]!, Number(parts[2])]
            : ['run-kubernetes', executionId.replaceAll(/[^A-Za-z0-9._-]/g, '-'), 1];
        const manifest: DispatchManifest = {
          version: 'cairn.manifest/v1',
          runId,
          itemId,
          attempt,
          fencingToken: 1,
          executionId,
          runtime,
          workspace: sha256Digest(''),
          inputs: {},
          apply: [],
          env: {},
          secretNames: Object.keys(options.secrets ?? {}),
          limits: { timeoutMs: 60_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 },
          effect: 'read-impure',
          issuedAt: new Date().toISOString(),
          ...options.manifest,
        };
        const payload = canonicalJsonBytes(manifest);
        const payloadType = 'application/vnd.cairn.manifest+json';
        const signature = sign(null, preAuthenticationEncoding(payloadType, payload), privateKey);
        const envelope = {
          payload: Buffer.from(payload).toString('base64'),
          payloadType,
          signatures: [{ keyid: key.keyId, sig: signature.toString('base64') }],
        };
        const manifestDigest = digestOfJson(envelope);
        pending.set(manifestDigest, storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope)));
        return {
          executionId,
          manifestDigest,
          ...(options.secrets ? { secrets: options.secrets } : {}),
          ...(options.gateway ? { gateway: options.gateway } : {}),
        };
      },
    };
  });
  afterEach(() => {
    for (const executor of executors.splice(0)) executor.close();
  });
  afterAll(async () => {
    for (const executor of executors.splice(0)) executor.close();
    await world?.endpoint.stop();
    await world?.kms.stop();
    rootfs?.remove();
    if (workerCopy !== undefined) rmSync(workerCopy, { recursive: true, force: true });
  });
  return () => {
    if (!world) throw new Error('the Kubernetes world is read outside a test');
    return world;
  };
}

/**
 * The executor under test, unchanged, but for one wait: tasks are built synchronously, and an S3
 * put is not, so `start` waits for the task's manifest to be stored (the engine stores a manifest
 * before it starts the task, too).
 */
class ManifestAwaitingExecutor extends KubernetesExecutor {
  readonly #pending: Map<string, Promise<unknown>>;

  constructor(settings: KubernetesExecutorSettings, pending: Map<string, Promise<unknown>>) {
    super(settings);
    this.#pending = pending;
  }

  override async start(task: TaskEnvelope) {
    await this.#pending.get(task.manifestDigest);
    return super.start(task);
  }
}
