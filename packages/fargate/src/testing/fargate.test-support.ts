import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import type { DispatchManifest, PublicKeyRecord, RuntimeSpec, TaskEnvelope, TaskGateway } from '@cairn/core';
import { preAuthenticationEncoding } from '@cairn/audit';
import { createKmsCipher, type KmsCipher } from '@cairn/kms';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';
import { createS3StorageProvider, type S3StorageProvider } from '@cairn/s3';
import { createTestBucket, radosgwClient, radosgwConnection } from '@cairn/s3/testing';
import { afterAll, beforeAll } from 'vitest';
import { FargateExecutor, type FargateExecutorSettings } from '../executor/fargate-executor.ts';
import { EcsTestEndpoint, type EcsTestEndpointOptions } from './ecs-endpoint.ts';
import { workerTestRootfs, type WorkerTestRootfs } from './worker-test-rootfs.ts';

/** What a Fargate test runs against: the ECS and KMS endpoints, a radosgw bucket, an engine signing key. */
export interface FargateWorld {
  readonly ecs: EcsTestEndpoint;
  readonly kms: KmsTestEndpoint;
  readonly bucket: string;
  readonly storage: S3StorageProvider;
  readonly cipher: KmsCipher;
  readonly kmsKeyId: string;
  readonly key: PublicKeyRecord;
  /** Executor settings over this world (ECS client, cluster `default`, task definition `cairn-worker`). */
  settings(overrides?: Partial<FargateExecutorSettings>): FargateExecutorSettings;
  /** A Fargate executor over this world whose `start` first waits for the task's manifest to be stored. */
  executor(overrides?: Partial<FargateExecutorSettings>): FargateExecutor;
  /** A task whose signed manifest runs `runtime`; its manifest is written to the bucket before `executor().start` sends it. */
  task(
    executionId: string,
    runtime: RuntimeSpec,
    options?: { secrets?: Record<string, string>; gateway?: TaskGateway; manifest?: Partial<DispatchManifest> },
  ): TaskEnvelope;
}

/**
 * One Fargate world for a test file, made before its tests and taken down after: a bucket on the
 * test S3 server, a KMS endpoint with a symmetric key, and an ECS endpoint whose task definition
 * `cairn-worker` runs the built `dist/cairn-worker.js` in `workerTestRootfs`. The task definition's
 * environment holds the test S3 server's credentials, as a task role would provide credentials.
 */
export function fargateWorldForFile(
  endpointOptions: Partial<EcsTestEndpointOptions> = {},
  rootfsOptions: Pick<NonNullable<Parameters<typeof workerTestRootfs>[0]>, 'files' | 'user' | 'capabilities' | 'environment'> = {},
): () => FargateWorld {
  let world: FargateWorld | undefined;
  let rootfs: WorkerTestRootfs | undefined;
  beforeAll(async () => {
    const connection = radosgwConnection();
    const bucket = await createTestBucket(radosgwClient());
    const kms = await KmsTestEndpoint.start();
    const kmsKeyId = kms.createKey('SYMMETRIC_DEFAULT').keyId;
    rootfs = workerTestRootfs({
      // The KMS endpoint checks that requests are signed, not by whom: one set of credentials does for both.
      ...rootfsOptions,
      environment: {
        ...rootfsOptions.environment,
        AWS_ACCESS_KEY_ID: connection.accessKeyId,
        AWS_SECRET_ACCESS_KEY: connection.secretAccessKey,
        AWS_REGION: connection.region,
      },
    });
    const ecs = await EcsTestEndpoint.start({ taskDefinitions: { 'cairn-worker': rootfs.definition }, ...endpointOptions });
    const storage = createS3StorageProvider({ bucket, client: radosgwClient() });
    const cipher = createKmsCipher({ keyId: kmsKeyId, client: kms.client() });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const der = publicKey.export({ format: 'der', type: 'spki' });
    const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };
    const pending = new Map<string, Promise<unknown>>();
    const settings = (overrides: Partial<FargateExecutorSettings> = {}): FargateExecutorSettings => ({
      client: ecs.client(),
      cluster: 'default',
      taskDefinition: 'cairn-worker',
      subnets: ['subnet-0cairn0test'],
      securityGroups: ['sg-0cairn0test'],
      storage,
      taskStorage: { bucket, endpoint: connection.endpoint, region: connection.region, forcePathStyle: true },
      cipher,
      taskCipher: { keyId: kmsKeyId, endpoint: kms.url, region: 'us-east-1' },
      trustedKeys: [key],
      ...overrides,
    });
    world = {
      ecs,
      kms,
      bucket,
      storage,
      cipher,
      kmsKeyId,
      key,
      settings,
      executor: (overrides = {}) => new ManifestAwaitingExecutor(settings(overrides), pending),
      task: (executionId, runtime, options = {}) => {
        const manifest: DispatchManifest = {
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
  afterAll(async () => {
    await world?.ecs.stop();
    await world?.kms.stop();
    rootfs?.remove();
  });
  return () => {
    if (!world) throw new Error('the Fargate world is read outside a test');
    return world;
  };
}

/**
 * The executor under test, unchanged, but for one wait: the suite builds its tasks synchronously,
 * and an S3 put is not, so `start` waits for the task's manifest to be stored (the engine stores a
 * manifest before it starts the task, too).
 */
class ManifestAwaitingExecutor extends FargateExecutor {
  readonly #pending: Map<string, Promise<unknown>>;

  constructor(settings: FargateExecutorSettings, pending: Map<string, Promise<unknown>>) {
    super(settings);
    this.#pending = pending;
  }

  override async start(task: TaskEnvelope) {
    await this.#pending.get(task.manifestDigest);
    return super.start(task);
  }
}
