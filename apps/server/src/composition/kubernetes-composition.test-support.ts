// What the tests of a server composed over the Kubernetes executor share: the Kubernetes API test
// endpoint (running the built cairn-worker's root filesystem as the configured image), the KMS test
// endpoint and a bucket on the test radosgw, the server's S3 credentials in its environment (the
// SDK's default chain finds them, as a server finds its role's), and a `cairn init` folder whose
// config names them with `executor: { kind: kubernetes }`. One world per test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { workerTestRootfs, type WorkerTestRootfs } from '@cairn/fargate/testing';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { createTestBucket, radosgwClient, radosgwEnvironment } from '@cairn/s3/testing';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import { initServer } from '../cli/init-server.ts';
import { writeKubernetesServerConfig } from '../cli/kubernetes-server-config.test-support.ts';
import type { ServerComposition } from './server-composition.ts';

/** The image the config names, which the endpoint runs from the worker's root filesystem. */
export const workerImage = 'registry.example.com/cairn/cairn-worker:test';

/** What one test file's tests use: the endpoints, the bucket, and where to keep what `afterEach`/`afterAll` clean up. */
export interface KubernetesServerWorld {
  readonly kms: KmsTestEndpoint;
  readonly endpoint: KubernetesTestEndpoint;
  readonly bucket: string;
  /** Folders removed after the file's tests. */
  readonly directories: string[];
  /** Compositions closed after each test. */
  readonly compositions: ServerComposition[];
}

/** Starts the endpoints once for the calling file (beforeAll), closes each test's compositions (afterEach) and stops everything (afterAll). */
export function kubernetesServerWorldForFile(): () => KubernetesServerWorld {
  let world: KubernetesServerWorld | undefined;
  let rootfs: WorkerTestRootfs | undefined;
  const directories: string[] = [];
  const compositions: ServerComposition[] = [];
  beforeAll(async () => {
    const kms = await KmsTestEndpoint.start();
    const bucket = await createTestBucket(radosgwClient());
    // The pods' own identity (as IRSA or a Pod Identity would give it): the image's environment, never the config's.
    rootfs = workerTestRootfs({ environment: radosgwEnvironment() });
    const endpoint = await KubernetesTestEndpoint.start({ images: { [workerImage]: rootfs.definition } });
    // The server's: the SDK's default chain finds them, as a server finds its role's.
    for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
    world = { kms, endpoint, bucket, directories, compositions };
  });
  afterEach(async () => {
    for (const composition of compositions.splice(0)) await composition.close();
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await world?.endpoint.stop();
    await world?.kms.stop();
    rootfs?.remove();
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  });
  return () => {
    if (!world) throw new Error('the Kubernetes server world is started in beforeAll');
    return world;
  };
}

/** `cairn init` in a fresh folder, then S3 storage, a KMS cipher and the kubernetes executor (its kubeconfig in a file beside the config). */
export async function serverOnKubernetes(
  world: KubernetesServerWorld,
  executor: Record<string, unknown> = {},
  more: Record<string, unknown> = {},
): Promise<{ directory: string; cipherKey: string; file: string; operatorToken: string }> {
  const { kms, endpoint, bucket, directories } = world;
  const directory = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-'));
  directories.push(directory);
  const { operatorToken } = await initServer(directory);
  const cipherKey = kms.createKey('SYMMETRIC_DEFAULT').keyId;
  const file = writeKubernetesServerConfig(directory, {
    endpoint,
    workerImage,
    storageBucket: bucket,
    kms: { url: kms.url, keyId: cipherKey },
    prefix: `server-${directories.length}/`,
    executor: { podTemplate: { resources: { limits: { memory: '1Gi' } } }, ...executor },
    more,
  });
  return { directory, cipherKey, file, operatorToken };
}

/** A logger whose every line is kept: what the server logged, read back by the test. */
export function capturedLogger(): { logger: ReturnType<typeof pino>; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), text: () => lines.join('') };
}

/** The pods the server asked the API server to create, by execution id, as it sent them. */
export function podsCreated(endpoint: KubernetesTestEndpoint): Map<string, Record<string, unknown>> {
  const pods = endpoint.requests
    .filter((request) => request.method === 'POST' && request.path === `/api/v1/namespaces/${endpoint.namespace}/pods` && request.status === 201)
    .map((request) => request.body as { metadata: { annotations: Record<string, string> } });
  return new Map(pods.map((pod) => [pod.metadata.annotations['cairn.dev/execution-id'] ?? '', pod as unknown as Record<string, unknown>]));
}
