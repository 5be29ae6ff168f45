// The claim path (ADR 0051, step 3): attempts claim sandboxes from an agent-sandbox warm pool. The
// pool's pods really run the worker in its wait mode under the test endpoint; the stand-in for
// agent-sandbox's controllers binds claims to ready warm sandboxes (warm hits) or makes cold ones,
// and merges each claim's annotations onto the running pod, whose downwardAPI file the endpoint's
// kubelet rewrites. Every object either side writes is checked against the CRDs' schemas.
import { readFileSync } from 'node:fs';
import type { ExecutionHandle, ExecutionStatus, TaskEnvelope } from '@cairn/core';
import { taskEnvironmentNames, taskEnvironmentPairs } from '@cairn/fargate';
import { manifestKey } from '@cairn/protocol';
import { CoreV1Api, CustomObjectsApi, loadAllYaml } from '@kubernetes/client-node';
import { afterEach, expect, test } from 'vitest';
import { AgentSandboxControllerStandIn } from '../testing/agent-sandbox/agent-sandbox-controller.ts';
import { checkSchema, readCrd } from '../testing/crd-schema.test-support.ts';
import { KubernetesTestEndpoint } from '../testing/kubernetes-test-endpoint.ts';
import { kubernetesWorldForFile, workerImage, type KubernetesWorld } from '../testing/kubernetes-world.test-support.ts';
import { podNameOf } from './execution-labels.ts';
import { KubernetesExecutor, kubernetesExecutorSettingsSchema, type KubernetesExecutorSettings } from './kubernetes-executor.ts';
import type { SandboxClaimObservation } from './sandbox-claim-path.ts';

const crds = [
  'agents.x-k8s.io_sandboxes.yaml',
  'extensions.agents.x-k8s.io_sandboxclaims.yaml',
  'extensions.agents.x-k8s.io_sandboxwarmpools.yaml',
  'extensions.agents.x-k8s.io_sandboxtemplates.yaml',
].map((file) => readCrd(file).document);
const world = kubernetesWorldForFile({ customResourceDefinitions: crds });
const extensions = { group: 'extensions.agents.x-k8s.io', version: 'v1beta1' } as const;
let sequence = 0;
const unique = (name: string) => `${name}-${Date.now().toString(36)}-${sequence++}`;
const closing: { close(): void }[] = [];
afterEach(() => {
  for (const item of closing.splice(0)) item.close();
});

async function until<T>(read: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The operator's part: a credential Secret, a SandboxTemplate running the worker in wait mode, and a pool of it. */
async function operatorPool(current: KubernetesWorld, options: { replicas: number; template?: string }): Promise<{ pool: string; template: string }> {
  const { endpoint } = current;
  const config = endpoint.kubeConfig();
  const namespace = endpoint.namespace;
  const pool = unique('workers');
  const template = options.template ?? unique('worker-template');
  const secret = `${template}-storage`;
  await config.makeApiClient(CoreV1Api).createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: secret },
      stringData: { 'aws-access-key-id': current.storageCredentials.accessKeyId, 'aws-secret-access-key': current.storageCredentials.secretAccessKey },
    },
  });
  const settings = current.settings();
  // What every attempt shares (storage, keys, KMS); the attempt itself arrives as annotations.
  const shared = taskEnvironmentPairs({
    executionId: '-',
    manifestDigest: '-',
    storage: {
      bucket: settings.taskStorage.bucket,
      prefix: settings.taskStorage.prefix ?? '',
      forcePathStyle: settings.taskStorage.forcePathStyle ?? false,
      endpoint: settings.taskStorage.endpoint,
      region: settings.taskStorage.region,
    },
    trustedKeys: settings.trustedKeys,
    cipher: settings.taskCipher,
  }).filter((pair) => pair.name !== taskEnvironmentNames.executionId && pair.name !== taskEnvironmentNames.manifestDigest);
  const custom = config.makeApiClient(CustomObjectsApi);
  if (options.template === undefined) {
    await custom.createNamespacedCustomObject({
      ...extensions,
      namespace,
      plural: 'sandboxtemplates',
      body: {
        apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
        kind: 'SandboxTemplate',
        metadata: { name: template },
        spec: {
          podTemplate: {
            metadata: { labels: { 'app.kubernetes.io/name': 'cairn-worker' } },
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
                    ...shared,
                    { name: 'CAIRN_ATTEMPT_ANNOTATIONS_FILE', value: '/run/cairn/attempt/annotations' },
                    { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: secret, key: 'aws-access-key-id' } } },
                    { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: secret, key: 'aws-secret-access-key' } } },
                  ],
                  volumeMounts: [{ name: 'attempt', mountPath: '/run/cairn/attempt', readOnly: true }],
                  securityContext: { privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                },
              ],
            },
          },
        },
      },
    });
  }
  await custom.createNamespacedCustomObject({
    ...extensions,
    namespace,
    plural: 'sandboxwarmpools',
    body: {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxWarmPool',
      metadata: { name: pool },
      spec: { replicas: options.replicas, sandboxTemplateRef: { name: template } },
    },
  });
  return { pool, template };
}

/** An executor on the claim path (no per-attempt credential: the template's Secret is the sandbox's identity). */
function claimingExecutor(current: KubernetesWorld, overrides: Partial<KubernetesExecutorSettings>): KubernetesExecutor {
  const { taskCredentials: _none, ...settings } = current.settings(overrides);
  const executor = new KubernetesExecutor(settings);
  closing.push(executor);
  return executor;
}
/** The engine stores a manifest before it starts its task; the world's puts are asynchronous. */
async function stored(current: KubernetesWorld, task: TaskEnvelope): Promise<TaskEnvelope> {
  await until(async () => ((await current.storage.get(manifestKey(task.manifestDigest))) === null ? undefined : true), 'the manifest to be stored');
  return task;
}
const exited = (executor: KubernetesExecutor, handle: ExecutionHandle) =>
  until(
    async () => {
      const status: ExecutionStatus = await executor.inspect(handle);
      return status.state === 'exited' ? status : undefined;
    },
    `${handle['executionId'] as string} to exit`,
  );
const claimPosts = (current: KubernetesWorld, name: string) =>
  current.endpoint.requests.filter(
    (request) => request.method === 'POST' && request.path.endsWith('/sandboxclaims') && JSON.stringify(request.body).includes(name),
  );

test('a warm pool of 2 serves 3 attempts: 2 warm hits and 1 cold claim, each run by the waiting worker to its result; claims go once exits are read', async () => {
  const current = world();
  const { endpoint } = current;
  const controller = new AgentSandboxControllerStandIn(endpoint.kubeConfig(), endpoint.namespace);
  closing.push({ close: () => controller.stop() });
  const { pool, template } = await operatorPool(current, { replicas: 2 });
  // Two warm sandboxes, their workers running and waiting; then the pool's refills are held unscheduled, so the third claim is cold.
  await until(async () => {
    const list = await endpoint
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: endpoint.namespace, labelSelector: `agents.x-k8s.io/warm-pool-sandbox=${pool}` });
    return list.items.filter((pod) => pod.status?.phase === 'Running').length === 2 ? true : undefined;
  }, 'two warm pods running');
  const hold = endpoint.holdScheduling({ labelSelector: `agents.x-k8s.io/warm-pool-sandbox=${pool}` });
  const observed: SandboxClaimObservation[] = [];
  const executor = claimingExecutor(current, { sandboxPool: { warmPool: pool, template }, onClaimBound: (observation) => observed.push(observation) });
  const run = unique('run-claims');
  const tasks = await Promise.all(
    [1, 2, 3].map((index) =>
      stored(current, current.task(`${run}/item-${index}/1`, { kind: 'command', argv: ['/bin/sh', '-c', `echo claimed ${index}; exit ${index - 1}`] })),
    ),
  );
  const handles = await Promise.all(tasks.map((task) => executor.start(task)));
  expect(observed.map((observation) => observation.launch).sort()).toEqual(['cold', 'warm', 'warm']);
  for (const observation of observed) {
    expect(observation.warmPool).toBe(pool);
    expect(observation.seconds).toBeGreaterThan(0);
    expect(observation.seconds).toBeLessThan(60);
  }
  expect(controller.bound).toEqual({ warm: 2, cold: 1 });
  const statuses = await Promise.all(handles.map((handle) => exited(executor, handle)));
  expect(statuses.map((status) => [status.outcome, status.exitCode])).toEqual([
    ['succeeded', 0],
    ['failed', 1],
    ['failed', 2],
  ]);
  for (const [index, handle] of handles.entries()) {
    expect(handle['claim']).toBe(podNameOf(tasks[index]!.executionId));
    // The worker ran in the claimed pod, which carries the attempt only as annotations.
    expect(endpoint.output(handle['pod'] as string)).not.toContain('CAIRN_CONFIG_INVALID');
    await until(() => (endpoint.wasDeleted('sandboxclaims', handle['claim'] as string) ? true : undefined), 'the claim to be deleted');
    await until(() => (endpoint.wasDeleted('pods', handle['pod'] as string) ? true : undefined), "the claim's pod to go with it");
  }
  // A restarted executor answers the same from storage, and a start repeated after the end makes no claim again.
  const restarted = claimingExecutor(current, { sandboxPool: { warmPool: pool, template } });
  expect(await restarted.inspect(JSON.parse(JSON.stringify(handles[1])) as ExecutionHandle)).toEqual(statuses[1]);
  const again = await restarted.start(tasks[1]!);
  expect(again).toMatchObject({ executionId: tasks[1]!.executionId, uid: handles[1]!['uid'], claim: handles[1]!['claim'] });
  expect(await restarted.inspect(again)).toEqual(statuses[1]);
  for (const task of tasks) expect(claimPosts(current, podNameOf(task.executionId))).toHaveLength(1);
  hold.release();
  expect(controller.errors).toEqual([]);
});

test('a claim that is not bound in time fails its start by name, and is deleted so that it never binds later', async () => {
  const current = world();
  // A pool whose template does not exist: no warm sandbox, and nothing to make a cold one from.
  const { pool, template } = await operatorPool(current, { replicas: 0, template: unique('absent-template') });
  const controller = new AgentSandboxControllerStandIn(current.endpoint.kubeConfig(), current.endpoint.namespace);
  closing.push({ close: () => controller.stop() });
  const executor = claimingExecutor(current, { sandboxPool: { warmPool: pool, template, claimTimeoutSeconds: 1 } });
  const task = await stored(current, current.task(`${unique('run-unbound')}/build/1`, { kind: 'command', argv: ['/bin/true'] }));
  await expect(executor.start(task)).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    path: 'kubernetes.sandboxPool.claimTimeoutSeconds',
    message: expect.stringContaining(`was not bound to a ready sandbox of warm pool ${pool} within 1 s`),
  });
  expect(current.endpoint.wasDeleted('sandboxclaims', podNameOf(task.executionId))).toBe(true);
});

test('a pool of another template, a pool that is not there, and a cluster without the agent-sandbox CRDs are each refused by name, nothing claimed', async () => {
  const current = world();
  const { pool } = await operatorPool(current, { replicas: 0, template: unique('other-template') });
  const task = await stored(current, current.task(`${unique('run-refused')}/build/1`, { kind: 'command', argv: ['/bin/true'] }));
  await expect(claimingExecutor(current, { sandboxPool: { warmPool: pool, template: 'cairn-worker' } }).start(task)).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    path: 'kubernetes.sandboxPool.template',
  });
  await expect(claimingExecutor(current, { sandboxPool: { warmPool: 'no-such-pool', template: 'cairn-worker' } }).start(task)).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    path: 'kubernetes.sandboxPool.warmPool',
  });
  const bare = await KubernetesTestEndpoint.start({ images: {} });
  try {
    const executor = claimingExecutor(current, {
      kubeConfig: bare.kubeConfig(),
      namespace: bare.namespace,
      sandboxPool: { warmPool: pool, template: 'cairn-worker' },
    });
    await expect(executor.start(task)).rejects.toMatchObject({
      code: 'CAIRN_EXECUTOR_START_FAILED',
      path: 'kubernetes.sandboxPool',
      message: expect.stringMatching(
        /does not serve sandboxwarmpools\.extensions\.agents\.x-k8s\.io.*Install agent-sandbox .* or remove kubernetes\.sandboxPool/,
      ),
    });
    expect(bare.requests.filter((request) => request.method === 'POST')).toEqual([]);
  } finally {
    await bare.stop();
  }
  expect(claimPosts(current, podNameOf(task.executionId))).toHaveLength(0);
});

test('sandboxPool with a per-attempt credential is refused at construction: a claimed sandbox has no Secret of its own', () => {
  const current = world();
  expect(() => new KubernetesExecutor(current.settings({ sandboxPool: { warmPool: 'workers', template: 'cairn-worker' } }))).toThrow(
    expect.objectContaining({ code: 'CAIRN_CONFIG_INVALID', path: 'kubernetes.taskCredentials' }),
  );
});

test("the warm-pool manifests of docs/operations/kubernetes.md are valid agent-sandbox objects, wired as the worker's wait mode needs", () => {
  const page = readFileSync(new URL('../../../../docs/operations/kubernetes.md', import.meta.url), 'utf8');
  const blocks = [...page.matchAll(/^```yaml\n([\s\S]*?)^```/gm)].map((match) => match[1]!).filter((block) => block.includes('kind: SandboxTemplate'));
  expect(blocks).toHaveLength(1);
  const objects = loadAllYaml(blocks[0]!) as { kind: string; metadata: { name: string }; spec: Record<string, unknown> }[];
  expect(objects.map((object) => object.kind)).toEqual(['SandboxTemplate', 'SandboxWarmPool']);
  const schemaOf = {
    SandboxTemplate: 'extensions.agents.x-k8s.io_sandboxtemplates.yaml',
    SandboxWarmPool: 'extensions.agents.x-k8s.io_sandboxwarmpools.yaml',
  } as const;
  for (const object of objects) expect(checkSchema(readCrd(schemaOf[object.kind as keyof typeof schemaOf]).schemas.get('v1beta1')!, object)).toEqual([]);
  const [template, pool] = objects as [(typeof objects)[0], (typeof objects)[0]];
  expect(pool.spec['sandboxTemplateRef']).toEqual({ name: template.metadata.name });
  const spec = (template.spec['podTemplate'] as { spec: Record<string, unknown> }).spec as {
    volumes: { name: string; downwardAPI?: { items: { path: string; fieldRef: { fieldPath: string } }[] } }[];
    containers: { name: string; env: { name: string; value?: string }[]; volumeMounts: { name: string; mountPath: string }[] }[];
  };
  const container = spec.containers[0]!;
  const file = container.env.find((variable) => variable.name === 'CAIRN_ATTEMPT_ANNOTATIONS_FILE')!.value!;
  const mount = container.volumeMounts.find((candidate) => file.startsWith(`${candidate.mountPath}/`))!;
  const item = spec.volumes
    .find((volume) => volume.name === mount.name)!
    .downwardAPI!.items.find((candidate) => `${mount.mountPath}/${candidate.path}` === file)!;
  expect(item.fieldRef.fieldPath).toBe('metadata.annotations');
  // Nothing of an attempt is in the template: it arrives as annotations.
  expect(container.env.map((variable) => variable.name)).not.toContain('CAIRN_EXECUTION_ID');
  // The config line names this pool and template, and passes the executor's own check.
  const line = /^ {2}sandboxPool: (\{.*\})$/m.exec(page)![1]!;
  const sandboxPool = loadAllYaml(line)[0] as { warmPool: string; template: string; claimTimeoutSeconds: number };
  expect(sandboxPool).toEqual({ warmPool: pool.metadata.name, template: template.metadata.name, claimTimeoutSeconds: 300 });
  expect(kubernetesExecutorSettingsSchema.shape.sandboxPool.safeParse(sandboxPool).success).toBe(true);
  expect(container.name).toBe('cairn-worker');
});

test("a claimed attempt is cancelled through its claim, and a restarted executor's sweep deletes the claims of attempts that are over, never a live one's", async () => {
  const current = world();
  const { endpoint } = current;
  const controller = new AgentSandboxControllerStandIn(endpoint.kubeConfig(), endpoint.namespace);
  closing.push({ close: () => controller.stop() });
  const { pool, template } = await operatorPool(current, { replicas: 0 });
  const sandboxPool = { warmPool: pool, template };
  const executor = claimingExecutor(current, { sandboxPool });
  const run = unique('run-claims-cancel');
  const sleeping = (name: string) => stored(current, current.task(`${run}/${name}/1`, { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 600'] }));
  const [cancelled, live, lost] = await Promise.all([sleeping('cancelled'), sleeping('live'), sleeping('lost')]);
  const [cancelledHandle, liveHandle, lostHandle] = await Promise.all([cancelled, live, lost].map((task) => executor.start(task)));
  await executor.cancel(cancelledHandle!);
  expect(await exited(executor, cancelledHandle!)).toMatchObject({ state: 'exited', outcome: 'cancelled' });
  expect(endpoint.wasDeleted('sandboxclaims', cancelledHandle!['claim'] as string)).toBe(true);
  await until(() => (endpoint.wasDeleted('pods', cancelledHandle!['pod'] as string) ? true : undefined), "the cancelled claim's pod to go");
  executor.close();

  // The server restarts; the engine knows only `live` as running (`lost` was recorded lost meanwhile).
  const restarted = claimingExecutor(current, { sandboxPool });
  const deleted = await restarted.sweep((id) => id === live.executionId);
  expect(deleted).toEqual([lostHandle!['claim']]);
  await until(() => (endpoint.wasDeleted('pods', lostHandle!['pod'] as string) ? true : undefined), "the lost attempt's pod to go with its claim");
  expect(endpoint.object('sandboxclaims', liveHandle!['claim'] as string)).toBeDefined();
  expect(endpoint.object('pods', liveHandle!['pod'] as string)).toBeDefined();
  // The live one is still followed and cancellable from its stored handle.
  const adopted = JSON.parse(JSON.stringify(liveHandle)) as ExecutionHandle;
  expect((await restarted.inspect(adopted)).state).toBe('running');
  await restarted.cancel(adopted);
  expect(await exited(restarted, adopted)).toMatchObject({ outcome: 'cancelled' });
  expect(controller.bound).toEqual({ warm: 0, cold: 3 });
});
