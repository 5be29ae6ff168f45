// The executor's Kubernetes behaviour beyond the shared suite, through the real client-node
// against the API test endpoint: what it creates (validated by the endpoint's schemas and read
// back through the endpoint, not the executor), how pods end, the watch, reconcile and cancel.
import type { ExecutionHandle, ExecutionStatus, RuntimeSpec } from '@cairn/core';
import { resultKey } from '@cairn/protocol';
import { CoreV1Api } from '@kubernetes/client-node';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { expect, test } from 'vitest';
import { kubernetesWorldForFile } from '../testing/kubernetes-world.test-support.ts';
import { attemptEndKey } from './attempt-end-record.ts';
import { executionDigestOf, podNameOf } from './execution-labels.ts';
import { createKubernetesExecutor, type KubernetesExecutor } from './kubernetes-executor.ts';

const world = kubernetesWorldForFile();
let sequence = 0;
const executionId = (name: string) => `run-k8s-${Date.now()}-${sequence++}/${name}/1`;
const sleepLong: RuntimeSpec = { kind: 'command', argv: ['/bin/sleep', '600'] };

async function waitFor(executor: KubernetesExecutor, handle: ExecutionHandle, done: (status: ExecutionStatus) => boolean, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await executor.inspect(handle);
    if (done(status)) return status;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const ended = (status: ExecutionStatus) => status.state === 'exited' || status.state === 'unknown';
const running = (status: ExecutionStatus) => status.state !== 'pending';

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("a task's pod runs the real worker and succeeds, its result stored; its Secret and NetworkPolicy are owned by it and go with it once the exit is read; nothing secret in the pod", async () => {
  const secret = 'npm_kube-secret-marker-7f3a';
  const id = executionId('build');
  const executor = world().executor();
  // Succeeds only when the runtime sees the secret's exact value (sealed in storage, opened by the
  // worker) and the attempt's trace context (so an agent's own spans join the attempt's trace).
  const traceContext = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'cairn=1' };
  const task = {
    ...world().task(
      id,
      {
        kind: 'command',
        argv: ['/bin/sh', '-c', `test "$NPM_TOKEN" = '${secret}' && test "$TRACEPARENT" = '${traceContext.traceparent}' && test "$TRACESTATE" = cairn=1`],
      },
      { secrets: { NPM_TOKEN: secret } },
    ),
    traceContext,
  };
  const handle = await executor.start(task);
  const { endpoint } = world();
  expect(handle).toEqual({ executor: 'kubernetes', executionId: id, namespace: endpoint.namespace, pod: podNameOf(id), uid: expect.any(String) });
  const status = await waitFor(executor, handle, ended);
  const record = JSON.parse(new TextDecoder().decode((await world().storage.get(resultKey(id)))!)) as { executionId: string; outcome: string };
  expect(record).toMatchObject({ executionId: id, outcome: 'succeeded' });
  // The record read to answer is carried with the answer (ADR 0060): the engine does not read it again.
  expect(status).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0, resultKey: resultKey(id), result: record });

  // Its exit read, the pod is deleted, and its Secret and NetworkPolicy with it (the garbage collector's, by ownerReference).
  const name = handle['pod'] as string;
  for (const [resource, object] of [
    ['pods', name],
    ['secrets', `${name}-credential`],
    ['networkpolicies', `${name}-egress`],
  ] as const)
    await until(() => (endpoint.wasDeleted(resource, object) ? true : undefined), `${resource}/${object} to be deleted`);
  const deletions = endpoint.requests.filter((request) => request.method === 'DELETE' && request.path.includes(name));
  expect(deletions.map((request) => [request.path.split('/').at(-2), request.status])).toEqual([['pods', 200]]);
  // The pod as the endpoint last kept it.
  const pod = endpoint.lastSeen('pods', name)!;
  new Pod(pod as never).validate();
  const digest = executionDigestOf(id);
  expect(pod).toMatchObject({
    metadata: {
      uid: handle['uid'],
      labels: {
        'app.kubernetes.io/managed-by': 'cairn',
        'cairn.dev/execution': digest,
        'cairn.dev/owner': expect.stringMatching(/^[0-9a-f]{40}$/),
        'cairn.dev/run': expect.stringMatching(/^run-k8s-\d+-\d+$/),
        'cairn.dev/item': 'build',
        'cairn.dev/attempt': '1',
      },
      annotations: { 'cairn.dev/execution-id': id },
    },
    spec: {
      restartPolicy: 'Never',
      // The manifest's 60 s timeout and the margin the worker needs to store what it has.
      activeDeadlineSeconds: 180,
      automountServiceAccountToken: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      containers: [
        {
          name: 'cairn-worker',
          image: 'ghcr.io/cairn-dev/cairn-worker:test',
          securityContext: { privileged: false, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  });
  const container = (pod['spec'] as { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] }).containers[0]!;
  const secretName = `${handle['pod'] as string}-credential`;
  expect(container.env.filter((variable) => variable.valueFrom !== undefined)).toEqual([
    { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: secretName, key: 'aws-access-key-id' } } },
    { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: secretName, key: 'aws-secret-access-key' } } },
  ]);
  // Nothing secret in what was sent for the pod: not the task's secret, not the storage credential, in any encoding.
  const podRequests = endpoint.requests.filter(
    (request) => request.method === 'POST' && request.path.endsWith('/pods') && JSON.stringify(request.body).includes(id),
  );
  expect(podRequests).toHaveLength(1);
  for (const value of [secret, world().storageCredentials.secretAccessKey]) {
    for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) {
      expect(JSON.stringify(podRequests[0]!.body)).not.toContain(form);
      expect(JSON.stringify(pod)).not.toContain(form);
    }
  }

  const owner = [{ apiVersion: 'v1', kind: 'Pod', name: handle['pod'], uid: handle['uid'], controller: true, blockOwnerDeletion: true }];
  // The Secret as it was created (accepted by the endpoint's schemas: 201); deleted once the pod ended.
  const secretRequest = endpoint.requests.find(
    (request) => request.method === 'POST' && request.path.endsWith('/secrets') && JSON.stringify(request.body).includes(secretName),
  )!;
  expect(secretRequest.status).toBe(201);
  const credential = secretRequest.body as Record<string, unknown>;
  new Secret(credential as never).validate();
  expect(endpoint.object('secrets', secretName)).toBeUndefined();
  expect(credential).toMatchObject({ metadata: { ownerReferences: owner, labels: { 'cairn.dev/execution': digest } }, type: 'Opaque', immutable: true });
  const data = credential['data'] as Record<string, string>;
  expect(Object.fromEntries(Object.entries(data).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]))).toEqual({
    'aws-access-key-id': world().storageCredentials.accessKeyId,
    'aws-secret-access-key': world().storageCredentials.secretAccessKey,
  });
  const policy = endpoint.lastSeen('networkpolicies', `${handle['pod'] as string}-egress`)!;
  new NetworkPolicy(policy as never).validate();
  expect(policy).toMatchObject({
    metadata: { ownerReferences: owner },
    spec: {
      podSelector: { matchLabels: { 'cairn.dev/execution': digest } },
      policyTypes: ['Ingress', 'Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '127.0.0.1/32' } }],
          ports: [
            { protocol: 'TCP', port: Number(new URL(world().settings().taskStorage.endpoint!).port) },
            { protocol: 'TCP', port: Number(new URL(world().kms.url).port) },
          ],
        },
      ],
    },
  });
  expect((policy['spec'] as { ingress?: unknown[] }).ingress ?? []).toEqual([]);
  // The order that keeps the container from starting before its policy: pod, policy, then the Secret it waits for.
  const creations = endpoint.requests
    .filter((request) => request.method === 'POST' && JSON.stringify(request.body).includes(digest))
    .map((request) => request.path.split('/').at(-1));
  expect(creations).toEqual(['pods', 'networkpolicies', 'secrets']);
});

test('the worker reaches storage only with the credential its Secret holds: a wrong one leaves no record and fails the attempt', async () => {
  const id = executionId('wrong-credential');
  const executor = world().executor({ taskCredentials: { accessKeyId: world().storageCredentials.accessKeyId, secretAccessKey: 'not-the-secret-key' } });
  const handle = await executor.start(world().task(id, { kind: 'command', argv: ['/bin/true'] }));
  const status = await waitFor(executor, handle, ended);
  // 75: the worker's "no record, storage could not be read" (EX_TEMPFAIL).
  expect(status).toMatchObject({ state: 'exited', outcome: 'failed', exitCode: 75 });
  expect(await world().storage.get(resultKey(id))).toBeNull();
});

test('OOMKilled ends the attempt CAIRN_ATTEMPT_MEMORY_EXCEEDED, naming the limit', async () => {
  const id = executionId('hungry');
  const executor = world().executor({ podTemplate: { resources: { limits: { memory: '160Mi', cpu: '1' } } } });
  const hungry: RuntimeSpec = { kind: 'command', argv: ['/opt/node/bin/node', '-e', 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1));'] };
  const handle = await executor.start(world().task(id, hungry));
  const status = await waitFor(executor, handle, ended);
  expect(world().endpoint.memoryLimitsEnforced).toBe(true);
  expect(world().endpoint.lastSeen('pods', handle['pod'] as string)).toMatchObject({
    status: { containerStatuses: [{ state: { terminated: expect.objectContaining({ reason: 'OOMKilled' }) } }] },
  });
  expect(status).toMatchObject({ state: 'exited', outcome: 'failed', reason: expect.stringMatching(/^CAIRN_ATTEMPT_MEMORY_EXCEEDED: .*\(160Mi\).*OOMKilled/) });
  // Final, and the same from a restarted executor.
  expect(
    await world()
      .executor()
      .inspect(JSON.parse(JSON.stringify(handle)) as ExecutionHandle),
  ).toEqual(status);
});

test('an evicted pod ends its attempt Evicted, saying what the kubelet said', async () => {
  const id = executionId('evicted');
  const executor = world().executor();
  const handle = await executor.start(world().task(id, sleepLong));
  await waitFor(executor, handle, running);
  await until(
    () => (JSON.stringify(world().endpoint.object('pods', handle['pod'] as string)).includes('"running"') ? true : undefined),
    'the container to run',
  );
  world().endpoint.evict(handle['pod'] as string, 'The node was low on resource: ephemeral-storage.');
  const status = await waitFor(executor, handle, ended);
  expect(status).toMatchObject({
    state: 'exited',
    outcome: 'failed',
    reason: expect.stringMatching(/^Evicted: .*The node was low on resource: ephemeral-storage\./),
  });
  expect(status.exitCode).toBeUndefined();
});

test('an image that cannot be pulled ends the attempt ImagePullBackOff; the pod is deleted and a restarted executor answers the same', async () => {
  const id = executionId('no-image');
  const executor = world().executor({ image: 'registry.invalid/cairn/missing:1' });
  const handle = await executor.start(world().task(id, sleepLong));
  const status = await waitFor(executor, handle, ended);
  expect(status).toMatchObject({
    state: 'exited',
    outcome: 'failed',
    reason: expect.stringMatching(/^ImagePullBackOff: the worker image could not be pulled: .*registry\.invalid\/cairn\/missing:1.*kubernetes\.image/),
  });
  await until(() => (world().endpoint.object('pods', handle['pod'] as string) ? undefined : true), 'the pod to be deleted');
  expect(await world().storage.get(attemptEndKey(id))).not.toBeNull();
  expect(
    await world()
      .executor()
      .inspect(JSON.parse(JSON.stringify(handle)) as ExecutionHandle),
  ).toEqual(status);
});

test('a pod Pending past pendingTimeoutSeconds ends its attempt Unschedulable, saying why, and never runs', async () => {
  const id = executionId('unschedulable');
  const hold = world().endpoint.holdScheduling({ labelSelector: `cairn.dev/execution=${executionDigestOf(id)}` });
  try {
    const executor = world().executor({ pendingTimeoutSeconds: 2 });
    const handle = await executor.start(world().task(id, { kind: 'command', argv: ['/bin/true'] }));
    expect((await executor.inspect(handle)).state).toBe('pending');
    const status = await waitFor(executor, handle, ended);
    expect(status).toMatchObject({
      state: 'exited',
      outcome: 'failed',
      reason: expect.stringMatching(/^Unschedulable: the pod was not scheduled within 2 s \(kubernetes\.pendingTimeoutSeconds\): 0\/1 nodes are available/),
    });
    await until(() => (world().endpoint.object('pods', handle['pod'] as string) ? undefined : true), 'the pod to be deleted');
  } finally {
    hold.release();
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await world().storage.get(resultKey(id))).toBeNull();
});

test('a watch that gets 410 Gone relists and resumes: the exit is learned from the watch, with no read of the pod', async () => {
  const id = executionId('relist');
  const { endpoint } = world();
  const executor = world().executor();
  const handle = await executor.start(world().task(id, { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 2'] }));
  expect((await executor.inspect(handle)).state).not.toBe('exited');
  expect(executor.watchRelists).toBe(1);
  // A write the pod watch does not see, then etcd's compaction: resuming from its last version is 410.
  await endpoint
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({ namespace: endpoint.namespace, body: { metadata: { name: `unrelated-${sequence++}` } } });
  endpoint.compactHistory();
  expect(endpoint.dropWatches()).toBeGreaterThanOrEqual(1);
  await until(() => (executor.watchRelists >= 2 ? true : undefined), 'the relist');
  const status = await waitFor(executor, handle, ended);
  expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  const reads = endpoint.requests.filter((request) => request.method === 'GET' && request.path.endsWith(`/pods/${handle['pod'] as string}`));
  // One read before the pod was created (404), none after: the watch told the executor.
  expect(reads.map((request) => request.status)).toEqual([404]);
});

test('a restarted executor reconciles: a running pod is adopted and cancellable, an ended one reports its exit, a missing one is unknown', async () => {
  const { endpoint } = world();
  const first = world().executor();
  const runningHandle = await first.start(world().task(executionId('adopted'), sleepLong));
  const endedHandle = await first.start(world().task(executionId('ended'), { kind: 'command', argv: ['/bin/sh', '-c', 'exit 3'] }));
  const missingHandle = await first.start(world().task(executionId('missing'), sleepLong));
  await waitFor(first, runningHandle, (status) => status.state === 'running');
  await waitFor(first, missingHandle, (status) => status.state === 'running');
  const endedStatus = await waitFor(first, endedHandle, ended);
  expect(endedStatus).toMatchObject({ state: 'exited', outcome: 'failed', exitCode: 3 });
  first.close();
  // While no executor runs, the missing pod is deleted at once (a node lost, an operator's kubectl).
  await endpoint
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .deleteNamespacedPod({ name: missingHandle['pod'] as string, namespace: endpoint.namespace, gracePeriodSeconds: 0 });
  await until(() => (endpoint.object('pods', missingHandle['pod'] as string) ? undefined : true), 'the pod to go');

  const restarted = world().executor();
  const stored = (handle: ExecutionHandle) => JSON.parse(JSON.stringify(handle)) as ExecutionHandle;
  expect(await restarted.inspect(stored(runningHandle))).toEqual({ state: 'running' });
  expect(await restarted.inspect(stored(endedHandle))).toEqual(endedStatus);
  expect(await restarted.inspect(stored(missingHandle))).toMatchObject({
    state: 'unknown',
    reason: expect.stringContaining(`pod ${missingHandle['pod'] as string}`),
  });
  await restarted.cancel(stored(runningHandle));
  expect(await waitFor(restarted, stored(runningHandle), ended)).toMatchObject({ state: 'exited', outcome: 'cancelled' });
  // A start of the running execution again, from the restarted executor, is the same pod.
  expect(
    endpoint.requests.filter(
      (request) => request.method === 'POST' && request.path.endsWith('/pods') && JSON.stringify(request.body).includes(runningHandle['executionId'] as string),
    ),
  ).toHaveLength(1);
});

test('cancel deletes the pod; its Secret and NetworkPolicy go with it by ownerReference', async () => {
  const { endpoint } = world();
  const executor = world().executor();
  const handle = await executor.start(world().task(executionId('cancelled'), sleepLong));
  await waitFor(executor, handle, (status) => status.state === 'running');
  const pod = handle['pod'] as string;
  expect(endpoint.object('secrets', `${pod}-credential`)).toBeDefined();
  expect(endpoint.object('networkpolicies', `${pod}-egress`)).toBeDefined();
  await executor.cancel(handle);
  expect(endpoint.requests.filter((request) => request.method === 'DELETE' && request.path.endsWith(`/pods/${pod}`)).map((request) => request.body)).toEqual([
    { preconditions: { uid: handle['uid'] }, propagationPolicy: 'Background' },
  ]);
  expect(await waitFor(executor, handle, ended)).toMatchObject({ state: 'exited', outcome: 'cancelled' });
  await until(
    () =>
      (endpoint.object('pods', pod) ?? endpoint.object('secrets', `${pod}-credential`) ?? endpoint.object('networkpolicies', `${pod}-egress`))
        ? undefined
        : true,
    'the pod and what it owns to go',
  );
  // The executor deleted only the pod: the garbage collector took the rest.
  expect(endpoint.requests.filter((request) => request.method === 'DELETE' && !request.path.endsWith(`/pods/${pod}`) && request.path.includes(pod))).toEqual(
    [],
  );
});

test('a template asking for privilege is refused at construction, naming each option and what to do; nothing is sent', async () => {
  const before = world().endpoint.requests.length;
  let refusal: unknown;
  try {
    createKubernetesExecutor(
      world().settings({
        podTemplate: {
          hostNetwork: true,
          automountServiceAccountToken: true,
          containerSecurityContext: { privileged: true, allowPrivilegeEscalation: true, capabilities: { add: ['SYS_ADMIN'] } },
        },
      }),
    );
  } catch (error) {
    refusal = error;
  }
  expect(refusal).toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'kubernetes.podTemplate.hostNetwork',
    message: expect.stringContaining('"kubernetes.podTemplate.containerSecurityContext.privileged" must not be true: attempt pods are never privileged'),
  });
  expect((refusal as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual([
    'kubernetes.podTemplate.hostNetwork',
    'kubernetes.podTemplate.automountServiceAccountToken',
    'kubernetes.podTemplate.containerSecurityContext.privileged',
    'kubernetes.podTemplate.containerSecurityContext.allowPrivilegeEscalation',
    'kubernetes.podTemplate.containerSecurityContext.capabilities.add',
  ]);
  expect((refusal as Error).message).toContain('set runtimeClassName');
  expect(world().endpoint.requests.length).toBe(before);
});

test('an allow-listed network is refused at start with nothing created; network: true opens the internet but the metadata range', async () => {
  const { endpoint } = world();
  const executor = world().executor();
  expect(executor.capabilities).not.toHaveProperty('networkAllowLists', true);
  const listed = executionId('allow-list');
  await expect(
    executor.start(
      world().task(listed, sleepLong, {
        manifest: { limits: { timeoutMs: 60_000, network: { allow: ['registry.npmjs.org'], deny: [], credentials: [] }, maxPatchBytes: 1, maxLogBytes: 1 } },
      }),
    ),
  ).rejects.toMatchObject({ code: 'CAIRN_EXECUTOR_START_FAILED', path: 'limits.network' });
  expect(endpoint.object('pods', podNameOf(listed))).toBeUndefined();

  const open = executionId('internet');
  const handle = await executor.start(
    world().task(
      open,
      { kind: 'command', argv: ['/bin/true'] },
      { manifest: { limits: { timeoutMs: 5_000, network: true, maxPatchBytes: 1_000_000, maxLogBytes: 1_000_000 } } },
    ),
  );
  expect(endpoint.object('networkpolicies', `${handle['pod'] as string}-egress`)).toMatchObject({
    spec: {
      egress: [
        expect.anything(),
        { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }, { ipBlock: { cidr: '::/0', except: ['fe80::/10'] } }] },
      ],
    },
  });
  expect(endpoint.object('pods', handle['pod'] as string)).toMatchObject({ spec: { activeDeadlineSeconds: 125 } });
  await waitFor(executor, handle, ended);
});

test('two executors (two replicas) starting one execution meet at one pod: one create wins, the other is answered 409 and reads it', async () => {
  const { endpoint } = world();
  const id = executionId('raced');
  const task = world().task(id, { kind: 'command', argv: ['/bin/true'] });
  // The second replica found no pod and is about to create one when the first creates it.
  let waiting = false;
  const late = world().executor({
    taskCredentials: async () => {
      waiting = true;
      await until(() => endpoint.object('pods', podNameOf(id)), 'the first replica to create the pod');
      return world().storageCredentials;
    },
  });
  const second = late.start(task);
  await until(() => (waiting ? true : undefined), 'the second replica to be about to create');
  const first = await world().executor().start(task);
  expect(await second).toEqual(first);
  const creates = endpoint.requests.filter(
    (request) => request.method === 'POST' && request.path.endsWith('/pods') && JSON.stringify(request.body).includes(id),
  );
  expect(creates.map((request) => request.status)).toEqual([201, 409]);
  expect((await waitFor(world().executor(), first, ended)).outcome).toBe('succeeded');
});
