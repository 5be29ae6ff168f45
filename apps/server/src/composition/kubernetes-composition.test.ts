// A server composed over the Kubernetes executor (ADR 0051): the config's `executor: { kind:
// kubernetes }` becomes a KubernetesExecutor whose pods (on the Kubernetes API test endpoint,
// which validates every object against the Kubernetes schemas and runs each pod's container, the
// built cairn-worker, under bubblewrap) find the server's own S3 storage (the test radosgw), open
// their secrets with the server's KMS key (the KMS test endpoint) and trust the server's signing
// key, all derived from the server's config and a kubeconfig file. The server closed while its
// pods run and composed again adopts them: nothing runs twice. `cairn doctor` asks the API server
// about the namespace. The config's refusals name their options.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyBundle } from '@cairn/audit';
import { taskEnvironmentNames } from '@cairn/fargate';
import { executionDigestOf, kubernetesExecutorSettingsSchema, ownerDigestOf, podNameOf } from '@cairn/kubernetes';
import { CoreV1Api } from '@kubernetes/client-node';
import { blobKey, canonicalJsonBytes, isCairnError } from '@cairn/protocol';
import { radosgwConnection } from '@cairn/s3/testing';
import { expect, test, vi } from 'vitest';
import { diagnoseServer } from '../cli/diagnose-server.ts';
import { kubernetesExecutorOptionNames } from '../config/executor-config-schema.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer } from './compose-server.ts';
import {
  capturedLogger,
  kubernetesServerWorldForFile,
  podsCreated as podsCreatedBy,
  serverOnKubernetes as serverOnKubernetesIn,
  workerImage,
} from './kubernetes-composition.test-support.ts';

const world = kubernetesServerWorldForFile();
const serverOnKubernetes = (executor: Record<string, unknown> = {}, more: Record<string, unknown> = {}) => serverOnKubernetesIn(world(), executor, more);
const podsCreated = () => podsCreatedBy(world().endpoint);
const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;

test("executor kind kubernetes: the server's options are @cairn/kubernetes's settings, but what the server supplies; each refusal names its option and what to set", async () => {
  const { directories, compositions } = world();
  // kubeconfigFile is read into the package's kubeConfig; storage, cipher, keys, credentials, the
  // logger, the claim observer (its metrics) and where the options live (settingsPath: config.executor) are the server's.
  const supplied = ['settingsPath', 'storage', 'taskStorage', 'cipher', 'taskCipher', 'trustedKeys', 'taskCredentials', 'logger', 'onClaimBound'];
  expect(kubernetesExecutorOptionNames.map((name) => (name === 'kubeconfigFile' ? 'kubeConfig' : name)).sort()).toEqual(
    Object.keys(kubernetesExecutorSettingsSchema.shape)
      .filter((name) => !supplied.includes(name))
      .sort(),
  );

  const refusals = (config: string) => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-config-'));
    directories.push(directory);
    writeFileSync(join(directory, 'cairn.config.yaml'), config);
    try {
      loadServerConfig({ directory, env: {} });
    } catch (error) {
      expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
      const issues = (error as { issues: { path: string; message: string }[] }).issues;
      return Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    }
    throw new Error('the config was accepted');
  };
  const network = 'network: { egress: [{ cidr: 10.0.0.0/16, ports: [443] }] }';
  // Local storage and cipher: pods cannot read the server's folder nor its key file.
  const local = refusals(`dataDirectory: ./data\nexecutor: { kind: kubernetes, namespace: cairn, image: cairn-worker:1, ${network} }\n`);
  expect(Object.keys(local).sort()).toEqual(['config.cipher', 'config.storage']);
  expect(local['config.storage']).toMatch(/must be an S3 bucket when executor.kind is kubernetes.*set storage: \{ kind: s3/);
  expect(local['config.cipher']).toMatch(/must be a KMS key when executor.kind is kubernetes.*set cipher: \{ kind: kms/);
  // The gateway on, at this host's loopback: a pod's loopback is its own.
  const aws =
    'storage: { kind: s3, bucket: acme-cairn, region: eu-west-1 }\ncipher: { kind: kms, keyId: alias/cairn }\ngateway: { enabled: true, publicUrl: http://127.0.0.1:7411 }\n';
  const loopback = refusals(`dataDirectory: ./data\n${aws}executor: { kind: kubernetes, namespace: cairn, image: cairn-worker:1, ${network} }\n`);
  expect(Object.keys(loopback)).toEqual(['config.gateway.publicUrl']);
  expect(loopback['config.gateway.publicUrl']).toMatch(
    /must not name this host's loopback.*executor.kind is kubernetes.*a pod's loopback is its own; set gateway.publicUrl/,
  );
  // Missing and malformed options, and the credentials a config never holds.
  const missing = refusals(
    `dataDirectory: ./data\n${aws.replace(/gateway.*\n/, '')}executor: { kind: kubernetes, namespace: Cairn_NS, containerName: Worker, network: { egress: [] }, pendingTimeoutSeconds: 0, sandbox: bubblewrap, accessKeyId: AKIA }\n`,
  );
  expect(Object.keys(missing).sort()).toEqual([
    'config.executor.accessKeyId',
    'config.executor.containerName',
    'config.executor.image',
    'config.executor.namespace',
    'config.executor.network.egress',
    'config.executor.pendingTimeoutSeconds',
    'config.executor.sandbox',
  ]);
  expect(missing['config.executor.image']).toMatch(/must name the cairn-worker image/);
  expect(missing['config.executor.namespace']).toMatch(/must be a namespace name/);
  expect(missing['config.executor.network.egress']).toMatch(/must list the CIDR blocks and ports of the storage and KMS endpoints/);
  expect(missing['config.executor.accessKeyId']).toMatch(/not an option here/);
  const noNetwork = refusals(
    `dataDirectory: ./data\n${aws.replace(/gateway.*\n/, '')}executor: { kind: kubernetes, namespace: cairn, image: cairn-worker:1 }\n`,
  );
  expect(noNetwork).toEqual({ 'config.executor.network': expect.stringMatching(/must say where attempt pods may connect/) });
  // An unknown kind lists the three.
  expect(refusals('dataDirectory: ./data\nexecutor: { kind: lambda }\n')['config.executor.kind']).toMatch(/'local'.*'fargate'.*or 'kubernetes'/);

  // What the package checks is refused when the server composes, named by the config's option.
  const composeRefusal = async (executor: Record<string, unknown>) => {
    const { directory } = await serverOnKubernetes(executor);
    const refused = await composeServer(loadServerConfig({ directory, env: {} })).then(
      (composition) => (compositions.push(composition), undefined),
      (error: unknown) => error,
    );
    expect(isCairnError(refused, 'CAIRN_CONFIG_INVALID'), String(refused)).toBe(true);
    return refused as Error & { path: string };
  };
  const privileged = await composeRefusal({ podTemplate: { hostNetwork: true, containerSecurityContext: { privileged: true } } });
  expect(privileged.path).toBe('config.executor.podTemplate.hostNetwork');
  expect(privileged.message).toMatch(/"config.executor.podTemplate.containerSecurityContext.privileged" must not be true/);
  const cidr = await composeRefusal({ network: { egress: [{ cidr: '10.0.0.0/99', ports: [443] }] } });
  expect(cidr).toMatchObject({ path: 'config.executor.network.egress.0.cidr', message: expect.stringContaining('must be a CIDR block') });
  const kubeconfig = await composeRefusal({ kubeconfigFile: 'no-such-kubeconfig.yaml' });
  expect(kubeconfig).toMatchObject({ path: 'config.executor.kubeconfigFile', message: expect.stringContaining('cannot read the kubeconfig') });
});

test(
  "executor kind kubernetes: a two-item run's items are pods of the configured image that find the server's S3 storage, open the secret with its KMS key and trust its signing key; the patch comes back and the bundle verifies; no credential in a pod or the log",
  { timeout: 120_000 },
  async () => {
    const { kms, endpoint, bucket, compositions } = world();
    const { directory, cipherKey } = await serverOnKubernetes();
    const loaded = loadServerConfig({ directory, env: {} });
    const log = capturedLogger();
    const composition = await composeServer(loaded, { logger: log.logger });
    compositions.push(composition);
    const secret = 'kubernetes-composed-secret-value';
    await composition.engine.setSecret('API_KEY', secret, actor);
    composition.engine.start();
    const { runId } = composition.engine.submit(
      {
        version: 1,
        name: 'on-kubernetes',
        items: [
          {
            id: 'use-secret',
            secrets: ['API_KEY'],
            runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$API_KEY" = ${secret} && echo done > out.txt`] },
          },
          // The configured executor is named by its kind: an item may name it.
          { id: 'named', executor: 'kubernetes', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo named > named.txt'] } },
        ],
      },
      { actor },
    );
    const run = await composition.engine.waitForRun(runId);
    const pods = podsCreated();
    const executions = [`${runId}/use-secret/1`, `${runId}/named/1`];
    expect(run.state, executions.map((id) => endpoint.output(podNameOf(id))).join('\n')).toBe('succeeded');
    for (const id of executions) expect(pods.has(id), id).toBe(true);

    // Each pod: the configured image and template, its environment derived from the server's storage, cipher and key.
    const pod = pods.get(`${runId}/use-secret/1`) as {
      spec: { containers: { name: string; image: string; env: { name: string; value?: string; valueFrom?: unknown }[]; resources: unknown }[] };
    };
    const container = pod.spec.containers[0]!;
    expect(container).toMatchObject({ name: 'cairn-worker', image: workerImage, resources: { limits: { memory: '1Gi' } } });
    const environment = Object.fromEntries(container.env.filter((pair) => pair.value !== undefined).map((pair) => [pair.name, pair.value]));
    const { endpoint: s3Endpoint, region } = radosgwConnection();
    expect(environment).toMatchObject({
      [taskEnvironmentNames.storageBucket]: bucket,
      [taskEnvironmentNames.storagePrefix]: loaded.config.storage.kind === 's3' ? loaded.config.storage.prefix : '',
      [taskEnvironmentNames.storageEndpoint]: s3Endpoint,
      [taskEnvironmentNames.storageRegion]: region,
      [taskEnvironmentNames.storageForcePathStyle]: 'true',
      [taskEnvironmentNames.cipherKeyId]: cipherKey,
      [taskEnvironmentNames.cipherEndpoint]: kms.url,
    });
    expect(JSON.parse(environment[taskEnvironmentNames.trustedKeys]!)).toEqual([composition.signingKey]);

    // The patch of each item came back through storage.
    for (const [itemId, line] of [
      ['use-secret', '+done'],
      ['named', '+named'],
    ] as const) {
      const digest = composition.engine.artifacts(runId, itemId)?.['patch'];
      expect(digest, itemId).toBeDefined();
      expect(new TextDecoder().decode((await composition.storage.get(blobKey(digest!)))!)).toContain(line);
    }

    // The secret went through KMS into storage: never in a pod, a Secret, any request to the API server, nor the server's log.
    expect(endpoint.requests.map((request) => JSON.stringify(request.body ?? null)).join('\n')).not.toContain(secret);
    expect(log.text()).not.toContain(secret);
    // Nor the S3 credentials: pods reach storage as their own identity, the config hands out none.
    expect(JSON.stringify([...pods.values()])).not.toContain(radosgwConnection().secretAccessKey);

    const bundle = await composition.engine.exportBundle(runId);
    expect(bundle.manifests).toHaveLength(2);
    const report = await verifyBundle(canonicalJsonBytes(bundle), {
      trustedKeys: [composition.signingKey],
      readAnchor: (receipt) => composition.anchors[0]!.read(receipt),
    });
    expect(report, JSON.stringify(report.checks)).toMatchObject({ valid: true });
  },
);

test(
  'the server closed while its pods run, and composed again: it adopts the running pods by their handles, every item completes exactly once and no attempt is lost; its start sweeps away its own pod of an attempt it does not know, and each pod goes once its exit is read',
  { timeout: 180_000 },
  async () => {
    const { endpoint, compositions } = world();
    const { directory } = await serverOnKubernetes();
    const loaded = loadServerConfig({ directory, env: {} });
    const log = capturedLogger();
    const first = await composeServer(loaded, { logger: log.logger });
    const secret = 'kubernetes-restart-secret-marker-7e2a';
    await first.engine.setSecret('DEPLOY_TOKEN', secret, actor);
    first.engine.start();
    const itemIds = ['one', 'two'];
    const { runId } = first.engine.submit(
      {
        version: 1,
        name: 'outlives-its-server',
        concurrency: itemIds.length,
        items: itemIds.map((id) => ({
          id,
          secrets: ['DEPLOY_TOKEN'],
          runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$DEPLOY_TOKEN" = '${secret}' && sleep 8 && echo ${id} > ${id}.txt`] },
        })),
      },
      { actor },
    );
    const podNames = itemIds.map((id) => podNameOf(`${runId}/${id}/1`));
    const running = (name: string) => (endpoint.object('pods', name) as { status?: { phase?: string } } | undefined)?.status?.phase === 'Running';
    const startsBefore = endpoint.containerStarts;
    for (const name of podNames) await endpoint.waitForPod(name, () => running(name), 60_000);
    await first.close();
    // Its close closed the executor's pod watch.
    await vi.waitFor(() => expect(endpoint.openWatches).toBe(0), { timeout: 5_000 });
    // The pods did not go with it: they belong to the cluster.
    expect(podNames.map(running)).toEqual([true, true]);
    const uids = podNames.map((name) => (endpoint.object('pods', name) as { metadata: { uid: string } }).metadata.uid);

    // Meanwhile, a pod of this server (its storage's owner label) whose attempt the engine does not
    // know: left by an attempt that ended while no server read it, or by a database restored from backup.
    const storageConfig = loaded.config.storage as Extract<typeof loaded.config.storage, { kind: 's3' }>;
    const leftoverId = 'run-gone-long-ago/leftover/1';
    const leftover = podNameOf(leftoverId);
    await endpoint
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({
        namespace: endpoint.namespace,
        body: {
          metadata: {
            name: leftover,
            labels: {
              'app.kubernetes.io/managed-by': 'cairn',
              'cairn.dev/execution': executionDigestOf(leftoverId),
              'cairn.dev/owner': ownerDigestOf(storageConfig),
            },
            annotations: { 'cairn.dev/execution-id': leftoverId },
          },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            containers: [{ name: 'cairn-worker', image: workerImage, command: ['/bin/true'] }],
          },
        },
      });
    await endpoint.waitForPod(leftover, (pod) => JSON.stringify(pod['status']).includes('"terminated"'), 60_000);

    const second = await composeServer(loaded, { logger: log.logger });
    compositions.push(second);
    second.start();
    const run = await second.engine.waitForRun(runId);
    expect(run.state, podNames.map((name) => endpoint.output(name)).join('\n')).toBe('succeeded');
    // Swept: the engine knows no such attempt.
    await vi.waitFor(() => expect(endpoint.wasDeleted('pods', leftover)).toBe(true), { timeout: 10_000 });
    // Adopted, not started again: the same pods, one container run each; each deleted once its exit was read.
    expect(podNames.map((name) => (endpoint.lastSeen('pods', name) as { metadata: { uid: string } }).metadata.uid)).toEqual(uids);
    expect(endpoint.containerStarts - startsBefore).toBe(itemIds.length + 1);
    for (const name of podNames) {
      await vi.waitFor(() => expect(endpoint.wasDeleted('pods', name)).toBe(true), { timeout: 10_000 });
      expect(endpoint.lastSeen('pods', name)).toMatchObject({
        status: { phase: 'Succeeded', containerStatuses: [{ state: { terminated: { exitCode: 0 } } }] },
      });
    }
    const entries = [...second.engine.audit.runEntries(runId)];
    const perAttempt = (action: string) =>
      entries
        .filter((entry) => entry.action === action)
        .map((entry) => entry.entity.id)
        .sort();
    const attempts = itemIds.map((id) => `${runId}/${id}/1`).sort();
    expect(perAttempt('attempt.dispatched')).toEqual(attempts);
    expect(perAttempt('attempt.completed')).toEqual(attempts);
    expect(entries.some((entry) => entry.action === 'attempt.lost')).toBe(false);
    for (const id of itemIds) {
      const digest = second.engine.artifacts(runId, id)?.['patch'];
      expect(new TextDecoder().decode((await second.storage.get(blobKey(digest!)))!)).toContain(`+${id}`);
    }
    expect(endpoint.requests.map((request) => JSON.stringify(request.body ?? null)).join('\n')).not.toContain(secret);
    expect(log.text()).not.toContain(secret);
  },
);

test(
  'cairn doctor asks the API server for the namespace: a finding that it answers, or what to fix for a namespace the Role does not reach and a kubeconfig that does not load',
  { timeout: 60_000 },
  async () => {
    const finding = async (executor: Record<string, unknown> = {}) => {
      const { directory } = await serverOnKubernetes(executor);
      const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
      return { findings, kubernetes: findings.find((candidate) => candidate.check === 'executor kubernetes') };
    };
    const healthy = await finding();
    expect(healthy.kubernetes, JSON.stringify(healthy.findings)).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/the API server answers for namespace cairn at http:\/\/127\.0\.0\.1:\d+/),
    });
    // No local sandbox is checked for attempts that run as pods.
    expect(healthy.findings.find((candidate) => candidate.check === 'sandbox')).toMatchObject({
      ok: true,
      detail: expect.stringContaining("each pod's container is its sandbox"),
    });
    expect(healthy.findings.some((candidate) => candidate.check === 'bubblewrap')).toBe(false);

    // The endpoint serves one namespace and refuses any other 403, as a namespaced Role does.
    const elsewhere = await finding({ namespace: 'other' });
    expect(elsewhere.kubernetes).toMatchObject({
      ok: false,
      detail: expect.stringContaining('answered 403'),
      fix: expect.stringMatching(/Role.*executor\.namespace|executor\.namespace.*Role/),
    });

    const { directory } = await serverOnKubernetes();
    writeFileSync(join(directory, 'kubeconfig.yaml'), 'clusters: [');
    const broken = (await diagnoseServer(loadServerConfig({ directory, env: {} }))).find((candidate) => candidate.check === 'executor kubernetes');
    expect(broken).toMatchObject({ ok: false, detail: expect.stringContaining('does not load'), fix: expect.stringContaining('executor.kubeconfigFile') });
  },
);

test("the executor block of docs/operations/kubernetes.md loads as written, and its podTemplate and network pass @cairn/kubernetes's own checks", async () => {
  const { directories } = world();
  const { attemptNetworkSchema, podTemplateSchema } = await import('@cairn/kubernetes');
  const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'operations', 'kubernetes.md'), 'utf8');
  const blocks = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((match) => match[1]!).filter((block) => block.includes('kind: kubernetes'));
  expect(blocks).toHaveLength(1);
  const directory = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-docs-'));
  directories.push(directory);
  writeFileSync(join(directory, 'cairn.config.yaml'), blocks[0]!);
  const { config } = loadServerConfig({ directory, env: {} });
  expect(config.executor).toMatchObject({ kind: 'kubernetes', namespace: 'cairn-attempts', containerName: 'cairn-worker', pendingTimeoutSeconds: 600 });
  if (config.executor.kind !== 'kubernetes') throw new Error('not a kubernetes executor');
  expect(podTemplateSchema.safeParse(config.executor.podTemplate).success).toBe(true);
  expect(attemptNetworkSchema.parse(config.executor.network)).toEqual({ egress: [{ cidr: '10.20.0.0/16', ports: [443] }], dns: true });
});
