// The Kubernetes executor's claim path through a real `cairn serve` (the built `dist/cli.js`; rebuild
// first: `pnpm --filter @cairn/kubernetes build && pnpm --filter @cairn/server build`): the config
// names an agent-sandbox warm pool, the Kubernetes API test endpoint serves the agent-sandbox CRDs
// (every object checked against their published schemas), and the test support's stand-in for
// agent-sandbox's controllers keeps the pool full and binds claims. The pool's pods run the REAL
// worker image (the root filesystem the global setup unpacked from the OCI image it built) in its
// wait mode, their attempt arriving as annotations in a downwardAPI file. A pool of 2, a run of 3
// items: 2 claims are warm hits and, the pool's refills held unscheduled, 1 is cold; the patches come
// back, the bundle verifies, and /metrics counts exactly that, with the claims' latency.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { podNameOf } from '@cairn/kubernetes';
import { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { writeKubernetesServerConfig } from './kubernetes-server-config.test-support.ts';
import { useBuiltServer } from './built-server.test-support.ts';

interface WorkerImageDefinition {
  readonly rootfs: string;
  readonly entrypoint: readonly string[];
  readonly user: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly workingDirectory: string;
}
interface ControllerStandIn {
  readonly bound: { readonly warm: number; readonly cold: number };
  readonly errors: readonly string[];
  stop(): void;
}
type CrdDocument = NonNullable<Parameters<typeof KubernetesTestEndpoint.start>[0]['customResourceDefinitions']>[number];

// Test support outside any package's published files (the image's helpers, the agent-sandbox CRDs and the controllers' stand-in): loaded by path.
const at = (path: string) => pathToFileURL(new URL(`../../../../packages/${path}`, import.meta.url).pathname).href;
const workerImage = 'registry.example.com/cairn/cairn-worker:claims-e2e';
const pool = 'cairn-workers';
const template = 'cairn-worker';

let endpoint: KubernetesTestEndpoint;
let kms: KmsTestEndpoint;
let controller: ControllerStandIn;
beforeAll(async () => {
  const { workerImageDefinition } = (await import(/* @vite-ignore */ at('fargate/image/worker-image-paths.ts'))) as {
    workerImageDefinition: () => WorkerImageDefinition;
  };
  const { readCrd } = (await import(/* @vite-ignore */ at('kubernetes/src/testing/crd-schema.test-support.ts'))) as {
    readCrd: (file: string) => { document: CrdDocument };
  };
  const { AgentSandboxControllerStandIn } = (await import(/* @vite-ignore */ at('kubernetes/src/testing/agent-sandbox/agent-sandbox-controller.ts'))) as {
    AgentSandboxControllerStandIn: new (config: ReturnType<KubernetesTestEndpoint['kubeConfig']>, namespace: string) => ControllerStandIn;
  };
  const image = workerImageDefinition();
  if (!existsSync(join(image.rootfs, 'opt'))) throw new Error(`the worker image is not unpacked at ${image.rootfs}: the global setup builds it`);
  kms = await KmsTestEndpoint.start();
  endpoint = await KubernetesTestEndpoint.start({
    images: {
      // The image, then what the template's service account (IRSA, Pod Identity) gives it: credentials for S3 and KMS.
      [workerImage]: { rootfs: image.rootfs, entrypoint: image.entrypoint, user: image.user, environment: { ...image.environment, ...radosgwEnvironment() } },
    },
    customResourceDefinitions: [
      'agents.x-k8s.io_sandboxes.yaml',
      'extensions.agents.x-k8s.io_sandboxclaims.yaml',
      'extensions.agents.x-k8s.io_sandboxwarmpools.yaml',
      'extensions.agents.x-k8s.io_sandboxtemplates.yaml',
    ].map((file) => readCrd(file).document),
  });
  controller = new AgentSandboxControllerStandIn(endpoint.kubeConfig(), endpoint.namespace);
});
afterAll(async () => {
  controller?.stop();
  await endpoint?.stop();
  await kms?.stop();
});

const { cairn, initialised, serve } = useBuiltServer(radosgwEnvironment);

/** Plain HTTP to the API endpoint, as `kubectl apply` would send the operator's objects. */
async function kubernetes(method: string, path: string, body?: unknown): Promise<{ items?: { status?: { phase?: string } }[] }> {
  const response = await fetch(`${endpoint.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as { items?: { status?: { phase?: string } }[] };
}

test(
  'cairn serve with a kubernetes executor claiming from a warm pool of 2: 3 items run in claimed sandboxes (2 warm hits, 1 cold), patches back, the bundle verifies, /metrics counts them',
  { timeout: 300_000 },
  async () => {
    const storageBucket = await createTestBucket(radosgwClient());
    const encryption = kms.createKey('SYMMETRIC_DEFAULT');
    const { directory, token, keyId } = await initialised();
    const { endpoint: s3Endpoint, region } = radosgwConnection();
    // The server's signing key, which the template's workers trust (as `cairn keys` shows it to the operator).
    const initConfig = parseYaml(readFileSync(join(directory, 'cairn.config.yaml'), 'utf8')) as { dataDirectory: string };
    const signingKey = join(directory, initConfig.dataDirectory, 'keys', 'signing.pem');
    const publicKey = createPublicKey(createPrivateKey(readFileSync(signingKey))).export({ format: 'der', type: 'spki' });
    expect(`sha256:${createHash('sha256').update(publicKey).digest('hex')}`).toBe(keyId);
    const trustedKeys = [{ keyId, algorithm: 'ed25519', publicKey: publicKey.toString('base64') }];

    const namespace = `/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/${endpoint.namespace}`;
    await kubernetes('POST', `${namespace}/sandboxtemplates`, {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxTemplate',
      metadata: { name: template },
      spec: {
        podTemplate: {
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            volumes: [{ name: 'attempt', downwardAPI: { items: [{ path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }] } }],
            containers: [
              {
                name: 'cairn-worker',
                image: workerImage,
                env: [
                  { name: 'CAIRN_ATTEMPT_ANNOTATIONS_FILE', value: '/run/cairn/attempt/annotations' },
                  { name: 'CAIRN_STORAGE_BUCKET', value: storageBucket },
                  { name: 'CAIRN_STORAGE_PREFIX', value: 'cairn/' },
                  { name: 'CAIRN_STORAGE_REGION', value: region },
                  { name: 'CAIRN_STORAGE_ENDPOINT', value: s3Endpoint },
                  { name: 'CAIRN_STORAGE_FORCE_PATH_STYLE', value: 'true' },
                  { name: 'CAIRN_CIPHER_KMS_KEY_ID', value: encryption.keyId },
                  { name: 'CAIRN_CIPHER_KMS_ENDPOINT', value: kms.url },
                  { name: 'CAIRN_CIPHER_KMS_REGION', value: 'us-east-1' },
                  { name: 'CAIRN_TRUSTED_KEYS', value: JSON.stringify(trustedKeys) },
                ],
                volumeMounts: [{ name: 'attempt', mountPath: '/run/cairn/attempt', readOnly: true }],
                securityContext: { privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    });
    await kubernetes('POST', `${namespace}/sandboxwarmpools`, {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxWarmPool',
      metadata: { name: pool },
      spec: { replicas: 2, sandboxTemplateRef: { name: template } },
    });
    const warmPods = `/api/v1/namespaces/${endpoint.namespace}/pods?labelSelector=${encodeURIComponent(`agents.x-k8s.io/warm-pool-sandbox=${pool}`)}`;
    await vi.waitFor(async () => expect((await kubernetes('GET', warmPods)).items?.filter((pod) => pod.status?.phase === 'Running')).toHaveLength(2), {
      timeout: 120_000,
      interval: 200,
    });
    // The pool's refills stay unscheduled: the third claim finds no warm sandbox and is started cold.
    const hold = endpoint.holdScheduling({ labelSelector: `agents.x-k8s.io/warm-pool-sandbox=${pool}` });

    writeKubernetesServerConfig(directory, {
      endpoint,
      workerImage,
      storageBucket,
      kms: { url: kms.url, keyId: encryption.keyId },
      executor: { sandboxPool: { warmPool: pool, template } },
    });

    const { base } = await serve(directory);
    const workspace = join(directory, 'project');
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'README.md'), '# project\n');
    const itemIds = ['one', 'two', 'three'];
    const spec = join(directory, 'run.yaml');
    writeFileSync(
      spec,
      stringifyYaml({
        version: 1,
        name: 'claimed-sandboxes',
        concurrency: itemIds.length,
        items: itemIds.map((id) => ({ id, runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo ${id} > ${id}.txt`] } })),
      }),
    );
    const submitted = await cairn(directory, ['submit', '-q', spec, '--workspace', workspace, '--server', base], { CAIRN_TOKEN: token });
    expect(submitted.status, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    const watched = await cairn(directory, ['watch', runId, '--server', base], { CAIRN_TOKEN: token });
    expect(watched.status, watched.stdout + watched.stderr).toBe(0);
    const status = await cairn(directory, ['--json', 'status', runId, '--server', base], { CAIRN_TOKEN: token });
    expect(JSON.parse(status.stdout), status.stdout).toMatchObject({ run: { state: 'succeeded', itemsFinished: itemIds.length, itemsFailed: 0 } });
    hold.release();

    // No pod of the executor's own (named after its execution): every attempt ran in a claimed sandbox, whose claim went once its exit was read.
    const ownPods = new Set(itemIds.map((id) => podNameOf(`${runId}/${id}/1`)));
    const posted = endpoint.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/pods'));
    expect(posted.filter((request) => ownPods.has((request.body as { metadata: { name: string } }).metadata.name))).toEqual([]);
    expect(endpoint.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/sandboxclaims'))).toHaveLength(itemIds.length);
    for (const id of itemIds) {
      await vi.waitFor(() => expect(endpoint.wasDeleted('sandboxclaims', podNameOf(`${runId}/${id}/1`))).toBe(true), { timeout: 10_000 });
      const patch = await cairn(directory, ['patch', runId, id, '--server', base], { CAIRN_TOKEN: token });
      expect(patch.stdout, patch.stderr).toContain(`+${id}`);
    }
    expect(controller.bound).toEqual({ warm: 2, cold: 1 });
    expect(controller.errors).toEqual([]);

    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toContain(`cairn_kubernetes_sandbox_claims_total{pool="${pool}",launch="warm"} 2`);
    expect(metrics).toContain(`cairn_kubernetes_sandbox_claims_total{pool="${pool}",launch="cold"} 1`);
    expect(metrics).toContain(`cairn_kubernetes_sandbox_claim_seconds_count{pool="${pool}"} 3`);
    const seconds = Number(/^cairn_kubernetes_sandbox_claim_seconds_sum\{pool="cairn-workers"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(seconds).toBeGreaterThan(0);

    const bundleFile = join(directory, 'bundle.json');
    const bundled = await cairn(directory, ['audit', 'bundle', runId, '--out', bundleFile, '--server', base], { CAIRN_TOKEN: token });
    expect(bundled.status, bundled.stderr).toBe(0);
    const verified = await cairn(directory, ['verify', bundleFile, '--trusted-key', keyId]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^valid: true/);
  },
);

test(
  'cairn serve with sandboxPool on a cluster without the agent-sandbox CRDs: the item fails with the named error saying what to install or which setting to remove, and nothing is created',
  { timeout: 120_000 },
  async () => {
    const bare = await KubernetesTestEndpoint.start({ images: {} });
    try {
      const storageBucket = await createTestBucket(radosgwClient());
      const encryption = kms.createKey('SYMMETRIC_DEFAULT');
      const { directory, token } = await initialised();
      writeKubernetesServerConfig(directory, {
        endpoint: bare,
        workerImage,
        storageBucket,
        kms: { url: kms.url, keyId: encryption.keyId },
        executor: { sandboxPool: { warmPool: pool, template } },
      });
      const { base } = await serve(directory);
      const workspace = join(directory, 'project');
      mkdirSync(workspace);
      writeFileSync(join(workspace, 'README.md'), '# project\n');
      const spec = join(directory, 'run.yaml');
      writeFileSync(spec, stringifyYaml({ version: 1, name: 'no-agent-sandbox', items: [{ id: 'build', runtime: { kind: 'command', argv: ['/bin/true'] } }] }));
      const submitted = await cairn(directory, ['submit', '-q', spec, '--workspace', workspace, '--server', base], { CAIRN_TOKEN: token });
      expect(submitted.status, submitted.stderr).toBe(0);
      const runId = submitted.stdout.trim();
      await cairn(directory, ['watch', runId, '--server', base], { CAIRN_TOKEN: token });
      const status = await cairn(directory, ['--json', 'status', runId, '--server', base], { CAIRN_TOKEN: token });
      expect(JSON.parse(status.stdout), status.stdout).toMatchObject({ run: { state: 'failed' } });
      expect(status.stdout).toContain('CAIRN_EXECUTOR_START_FAILED');
      expect(status.stdout).toMatch(
        /does not serve sandboxwarmpools\.extensions\.agents\.x-k8s\.io.*Install agent-sandbox .* or remove config\.executor\.sandboxPool/,
      );
      expect(bare.requests.filter((request) => request.method === 'POST')).toEqual([]);
    } finally {
      await bare.stop();
    }
  },
);
