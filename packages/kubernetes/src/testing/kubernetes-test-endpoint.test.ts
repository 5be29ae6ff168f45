// The Kubernetes test endpoint through the real `@kubernetes/client-node` (KubeConfig, CoreV1Api,
// NetworkingV1Api, Watch): what the executor's tests will rely on it for.
import { workerTestRootfs, type WorkerTestRootfs } from '@cairn/fargate/testing';
import { ApiException, CoreV1Api, NetworkingV1Api, PatchStrategy, setHeaderOptions, Watch, type V1EnvVar, type V1Pod } from '@kubernetes/client-node';
import { Pod } from 'kubernetes-models/v1/Pod';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { KubernetesTestEndpoint } from './kubernetes-test-endpoint.ts';

const image = 'ghcr.io/cairn-dev/cairn-worker:test';
let endpoint: KubernetesTestEndpoint;
let rootfs: WorkerTestRootfs;
let core: CoreV1Api;
let networking: NetworkingV1Api;
let namespace: string;
beforeAll(async () => {
  rootfs = workerTestRootfs();
  endpoint = await KubernetesTestEndpoint.start({ images: { [image]: rootfs.definition }, restartBackOffMs: 100 });
  core = endpoint.kubeConfig().makeApiClient(CoreV1Api);
  networking = endpoint.kubeConfig().makeApiClient(NetworkingV1Api);
  namespace = endpoint.namespace;
});
afterAll(async () => {
  await endpoint.stop();
  rootfs.remove();
});

/** A pod of the worker image running `script` under /bin/sh, restartPolicy Never. */
function shellPod(name: string, script: string, extra: { labels?: Record<string, string>; env?: V1EnvVar[] } = {}): V1Pod {
  return {
    metadata: { name, labels: { 'cairn.dev/test': 'endpoint', ...(extra.labels ?? {}) } },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name: 'main', image, command: ['/bin/sh', '-c', script], ...(extra.env ? { env: extra.env } : {}) }],
    },
  };
}

interface Collected {
  readonly events: { type: string; object: Record<string, unknown> }[];
  readonly ended: Promise<unknown>;
  readonly controller: AbortController;
}

/** Opens a watch with the real client's Watch and collects its events until it ends. */
async function watchAll(path: string, query: Record<string, string | boolean | undefined>): Promise<Collected> {
  const events: Collected['events'] = [];
  let end!: (error: unknown) => void;
  const ended = new Promise((resolve) => (end = resolve));
  const controller = await new Watch(endpoint.kubeConfig()).watch(
    path,
    query,
    (type, object: Record<string, unknown>) => events.push({ type, object }),
    (error) => end(error ?? null),
  );
  return { events, ended, controller };
}

async function until<T>(read: () => T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const status = (error: unknown) => {
  expect(error).toBeInstanceOf(ApiException);
  return { code: (error as ApiException<string>).code, body: JSON.parse((error as ApiException<string>).body) as Record<string, any> };
};

const phaseOf = (pod: Record<string, unknown>) => (pod['status'] as { phase?: string } | undefined)?.phase;
const ended = (pod: Record<string, unknown>) => phaseOf(pod) === 'Succeeded' || phaseOf(pod) === 'Failed';

test('a pod reads its secretKeyRef env and runs a real command, watched Pending → Running → Succeeded with its exit code', async () => {
  const podsPath = `/api/v1/namespaces/${namespace}/pods`;
  const from = endpoint.resourceVersion;
  const watch = await watchAll(podsPath, { labelSelector: 'cairn.dev/attempt=first', resourceVersion: from });
  const started = performance.now();
  const created = await core.createNamespacedPod({
    namespace,
    body: shellPod('first', 'echo "token=$CAIRN_TOKEN uid=$(id -u) host=$(hostname)"; exit 0', {
      labels: { 'cairn.dev/attempt': 'first' },
      env: [{ name: 'CAIRN_TOKEN', valueFrom: { secretKeyRef: { name: 'first-credential', key: 'token' } } }],
    }),
  });
  expect(created.metadata).toMatchObject({ name: 'first', namespace, uid: expect.any(String), resourceVersion: expect.any(String) });
  expect(created.metadata!.creationTimestamp).toBeInstanceOf(Date);
  expect(created.status).toMatchObject({ phase: 'Pending', qosClass: 'BestEffort' });
  expect(created.spec).toMatchObject({ restartPolicy: 'Never', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default' });
  // The credential comes after the pod, owned by it (the executor's order): the kubelet waits for it.
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: {
        name: 'first-credential',
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'first', uid: created.metadata!.uid!, blockOwnerDeletion: true }],
      },
      stringData: { token: 's3cr3t-value' },
    },
  });
  const done = await until(() => watch.events.find((event) => event.type === 'MODIFIED' && ended(event.object))?.object, 'the pod to end');
  const elapsedMs = performance.now() - started;
  expect(phaseOf(done)).toBe('Succeeded');
  const phases = [...new Set(watch.events.map((event) => phaseOf(event.object)))];
  expect(phases).toEqual(['Pending', 'Running', 'Succeeded']);
  const running = watch.events.find((event) => phaseOf(event.object) === 'Running')!.object as { status: { containerStatuses: unknown[] } };
  expect(running.status.containerStatuses).toEqual([
    expect.objectContaining({ name: 'main', ready: true, started: true, state: { running: { startedAt: expect.any(String) } } }),
  ]);
  expect(done).toMatchObject({
    spec: { nodeName: 'cairn-test-node' },
    status: {
      conditions: expect.arrayContaining([
        expect.objectContaining({ type: 'Ready', status: 'False', reason: 'PodCompleted' }),
        expect.objectContaining({ type: 'PodScheduled', status: 'True' }),
      ]),
      containerStatuses: [
        { name: 'main', ready: false, restartCount: 0, state: { terminated: expect.objectContaining({ exitCode: 0, reason: 'Completed' }) } },
      ],
    },
  });
  // Every pod the endpoint answered passes the Kubernetes schema, status included.
  for (const event of watch.events) new Pod(event.object as never).validate();
  // Resource versions only grow along the watch.
  const versions = watch.events.map((event) => Number((event.object['metadata'] as { resourceVersion: string }).resourceVersion));
  expect(versions).toEqual([...versions].sort((a, b) => a - b));
  const log = await core.readNamespacedPodLog({ name: 'first', namespace });
  expect(log).toBe('token=s3cr3t-value uid=1000 host=first\n');
  expect(JSON.stringify(created.spec)).not.toContain('s3cr3t-value');
  watch.controller.abort();
  console.info(`pod create → Succeeded: ${elapsedMs.toFixed(0)} ms`);

  await core.createNamespacedPod({ namespace, body: shellPod('exits-three', 'exit 3') });
  const failed = await endpoint.waitForPod('exits-three', ended);
  expect(failed).toMatchObject({
    status: {
      phase: 'Failed',
      conditions: expect.arrayContaining([expect.objectContaining({ type: 'Ready', status: 'False', reason: 'PodFailed' })]),
      containerStatuses: [{ state: { terminated: expect.objectContaining({ exitCode: 3, reason: 'Error' }) } }],
    },
  });
});

test('a missing secret: CreateContainerConfigError naming it, Pending, until the secret exists; then the pod runs', async () => {
  await core.createNamespacedPod({
    namespace,
    body: shellPod('waits-for-secret', 'echo "$A"', { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'late', key: 'a' } } }] }),
  });
  const waiting = await endpoint.waitForPod('waits-for-secret', (pod) => JSON.stringify(pod['status']).includes('CreateContainerConfigError'));
  expect(waiting['status']).toMatchObject({
    phase: 'Pending',
    containerStatuses: [{ state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "late" not found' } } }],
  });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'late' }, data: { a: Buffer.from('arrived').toString('base64') } } });
  await endpoint.waitForPod('waits-for-secret', ended);
  expect(endpoint.output('waits-for-secret')).toBe('arrived\n');
});

test('every object sent is validated against the Kubernetes schemas: 422 Invalid naming the field, like the API server', async () => {
  const noContainers = await core.createNamespacedPod({ namespace, body: { metadata: { name: 'empty' }, spec: {} as never } }).catch((error: unknown) => error);
  expect(status(noContainers)).toEqual({
    code: 422,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Pod "empty" is invalid: spec.containers: Required value',
      reason: 'Invalid',
      details: { name: 'empty', kind: 'Pod', causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' }] },
      code: 422,
    },
  });
  const badQuantity = await core
    .createNamespacedPod({
      namespace,
      body: { metadata: { name: 'bad-memory' }, spec: { containers: [{ name: 'main', image, resources: { limits: { memory: 'lots' } } }] } },
    })
    .catch((error: unknown) => error);
  expect(status(badQuantity).body['details'].causes).toEqual([
    { reason: 'FieldValueInvalid', message: 'Invalid value: "lots": must match format "quantity"', field: 'spec.containers[0].resources.limits[memory]' },
  ]);
  const server = await core
    .createNamespacedPod({ namespace, body: { metadata: { name: 'Not_A_Name' }, spec: { containers: [{ name: 'main' }] } } })
    .catch((error: unknown) => error);
  expect(status(server).body['message']).toMatch(
    /^Pod "Not_A_Name" is invalid: \[metadata\.name: Invalid value: "Not_A_Name": a lowercase RFC 1123 subdomain .*, spec\.containers\[0\]\.image: Required value\]$/,
  );
  const secret = await core
    .createNamespacedSecret({ namespace, body: { metadata: { name: 'bad-data' }, data: { token: 'not base64!' } } })
    .catch((error: unknown) => error);
  expect(status(secret).body['details'].causes[0]).toMatchObject({ field: 'data[token]', reason: 'FieldValueInvalid' });
  const policy = await networking
    .createNamespacedNetworkPolicy({
      namespace,
      body: { metadata: { name: 'no-cidr' }, spec: { podSelector: {}, egress: [{ to: [{ ipBlock: {} as never }] }] } },
    })
    .catch((error: unknown) => error);
  expect(status(policy).body).toMatchObject({
    code: 422,
    message: 'NetworkPolicy.networking.k8s.io "no-cidr" is invalid: spec.egress[0].to[0].ipBlock.cidr: Required value',
    details: { group: 'networking.k8s.io', kind: 'NetworkPolicy' },
  });
  // The request log holds what was sent, refusals included.
  expect(endpoint.requests).toContainEqual(
    expect.objectContaining({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/pods`,
      status: 422,
      body: expect.objectContaining({ metadata: { name: 'empty' } }),
    }),
  );
  expect(endpoint.object('pods', 'empty')).toBeUndefined();
});

test('409 AlreadyExists and Conflict, 404 NotFound, 403 for another namespace, 401 without the token: Status objects', async () => {
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'twice' }, stringData: { a: '1' } } });
  const again = await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'twice' } } }).catch((error: unknown) => error);
  expect(status(again)).toMatchObject({
    code: 409,
    body: { reason: 'AlreadyExists', message: 'secrets "twice" already exists', details: { name: 'twice', kind: 'secrets' } },
  });
  const first = await core.readNamespacedSecret({ name: 'twice', namespace });
  const replaced = await core.replaceNamespacedSecret({ name: 'twice', namespace, body: { ...first, stringData: { a: '2' } } });
  expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(first.metadata!.resourceVersion));
  expect(replaced.data).toEqual({ a: Buffer.from('2').toString('base64') });
  const stale = await core.replaceNamespacedSecret({ name: 'twice', namespace, body: { ...first, stringData: { a: '3' } } }).catch((error: unknown) => error);
  expect(status(stale)).toMatchObject({ code: 409, body: { reason: 'Conflict', message: expect.stringContaining('the object has been modified') } });
  const patched = await core.patchNamespacedSecret(
    { name: 'twice', namespace, body: { metadata: { labels: { patched: 'yes' } } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  expect(patched.metadata!.labels).toEqual({ patched: 'yes' });
  const missing = await core.readNamespacedPod({ name: 'nobody', namespace }).catch((error: unknown) => error);
  expect(status(missing)).toMatchObject({ code: 404, body: { kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'pods "nobody" not found' } });
  const elsewhere = await core.listNamespacedPod({ namespace: 'kube-system' }).catch((error: unknown) => error);
  expect(status(elsewhere)).toMatchObject({
    code: 403,
    body: { reason: 'Forbidden', message: expect.stringContaining('cannot list resource "pods" in API group "" in the namespace "kube-system"') },
  });
  const anonymous = await fetch(`${endpoint.url}/api/v1/namespaces/${namespace}/pods`);
  expect(anonymous.status).toBe(401);
});

test('lists by label selector, equality and set-based, for pods, secrets and network policies', async () => {
  for (const [name, tier] of [
    ['list-a', 'one'],
    ['list-b', 'two'],
    ['list-c', 'three'],
  ] as const) {
    await core.createNamespacedSecret({ namespace, body: { metadata: { name, labels: { 'cairn.dev/list': 'yes', tier } } } });
    await networking.createNamespacedNetworkPolicy({
      namespace,
      body: { metadata: { name, labels: { 'cairn.dev/list': 'yes', tier } }, spec: { podSelector: { matchLabels: { tier } }, policyTypes: ['Egress'] } },
    });
  }
  const names = (list: { items: { metadata?: { name?: string } }[] }) => list.items.map((item) => item.metadata!.name);
  expect(names(await core.listNamespacedSecret({ namespace, labelSelector: 'cairn.dev/list=yes,tier!=two' }))).toEqual(['list-a', 'list-c']);
  expect(names(await networking.listNamespacedNetworkPolicy({ namespace, labelSelector: 'tier in (two,three)' }))).toEqual(['list-b', 'list-c']);
  const pods = await core.listNamespacedPod({ namespace, labelSelector: 'cairn.dev/attempt=first' });
  expect(names(pods)).toEqual(['first']);
  expect(pods.metadata!.resourceVersion).toBe(endpoint.resourceVersion);
  const bad = await core.listNamespacedSecret({ namespace, labelSelector: 'tier in (' }).catch((error: unknown) => error);
  expect(status(bad).code).toBe(400);
});

test('deleting a pod cascades to the secret and network policy it owns; foreground waits for them; orphan keeps them', async () => {
  const owned = async (name: string) => {
    const pod = await core.createNamespacedPod({
      namespace,
      body: shellPod(name, 'trap "echo got-term; exit 0" TERM; echo trapped; while true; do sleep 0.05; done'),
    });
    const owner = [{ apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: `${name}-secret`, ownerReferences: owner }, stringData: { k: 'v' } } });
    await networking.createNamespacedNetworkPolicy({
      namespace,
      body: {
        metadata: { name: `${name}-policy`, ownerReferences: owner },
        spec: { podSelector: { matchLabels: { pod: name } }, policyTypes: ['Egress', 'Ingress'] },
      },
    });
    await until(() => (endpoint.output(name).includes('trapped') ? true : undefined), `${name}'s trap`);
    return pod;
  };
  const gone = (name: string) =>
    until(
      () => ((endpoint.object('secrets', `${name}-secret`) ?? endpoint.object('networkpolicies', `${name}-policy`)) ? undefined : true),
      `${name}'s dependents to go`,
    );

  await owned('cascade');
  const watch = await watchAll(`/api/v1/namespaces/${namespace}/pods`, { fieldSelector: 'metadata.name=cascade', resourceVersion: endpoint.resourceVersion });
  const deleting = await core.deleteNamespacedPod({ name: 'cascade', namespace });
  // Graceful: the pod answers marked, its container gets SIGTERM and ends on its own.
  expect(deleting.metadata!.deletionTimestamp).toBeInstanceOf(Date);
  expect(deleting.metadata!.deletionGracePeriodSeconds).toBe(30);
  await until(() => watch.events.find((event) => event.type === 'DELETED'), 'the pod to go');
  const terminated = watch.events.find((event) => JSON.stringify(event.object['status']).includes('"terminated"'))!;
  expect(terminated).toMatchObject({
    type: 'MODIFIED',
    object: {
      metadata: { deletionTimestamp: expect.any(String) },
      status: { containerStatuses: [{ state: { terminated: expect.objectContaining({ exitCode: 0 }) } }] },
    },
  });
  expect(watch.events.map((event) => event.type)).toEqual(['MODIFIED', 'MODIFIED', 'DELETED']);
  expect(endpoint.output('cascade')).toBe('trapped\ngot-term\n');
  watch.controller.abort();
  await gone('cascade');

  await owned('foreground');
  await core.deleteNamespacedPod({ name: 'foreground', namespace, propagationPolicy: 'Foreground' });
  expect(endpoint.object('pods', 'foreground')).toMatchObject({ metadata: { finalizers: ['foregroundDeletion'] } });
  await until(() => (endpoint.object('pods', 'foreground') ? undefined : true), 'the foreground-deleted pod to go');
  await gone('foreground');

  await owned('orphaner');
  await core.deleteNamespacedPod({ name: 'orphaner', namespace, body: { propagationPolicy: 'Orphan', gracePeriodSeconds: 0 } });
  await until(() => (endpoint.object('pods', 'orphaner') ? undefined : true), 'the orphaning pod to go');
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(endpoint.object('secrets', 'orphaner-secret')).toMatchObject({ metadata: { name: 'orphaner-secret' } });
  expect((endpoint.object('secrets', 'orphaner-secret')!['metadata'] as { ownerReferences?: unknown }).ownerReferences).toBeUndefined();

  const badPolicy = await core.deleteNamespacedSecret({ name: 'orphaner-secret', namespace, propagationPolicy: 'Sideways' }).catch((error: unknown) => error);
  expect(status(badPolicy).code).toBe(422);
  const removed = await core.deleteNamespacedSecret({ name: 'orphaner-secret', namespace });
  expect(removed).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'orphaner-secret', kind: 'secrets' } });
});

test('a watch dropped and resumed from its last resourceVersion misses nothing', async () => {
  const path = `/api/v1/namespaces/${namespace}/secrets`;
  const selector = 'cairn.dev/resume=yes';
  const first = await watchAll(path, { labelSelector: selector, resourceVersion: endpoint.resourceVersion });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'resume-1', labels: { 'cairn.dev/resume': 'yes' } } } });
  await until(() => first.events[0], 'the first event');
  expect(endpoint.dropWatches()).toBeGreaterThanOrEqual(1);
  expect(await first.ended).toBeNull();
  const last = (first.events.at(-1)!.object['metadata'] as { resourceVersion: string }).resourceVersion;

  // While nobody watches: a creation, a change, a deletion, and a label change out of the selector.
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'resume-2', labels: { 'cairn.dev/resume': 'yes' } } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'resume-3', labels: { 'cairn.dev/resume': 'yes' } } } });
  await core.patchNamespacedSecret({ name: 'resume-1', namespace, body: [{ op: 'add', path: '/data', value: { b: 'Yg==' } }] });
  await core.deleteNamespacedSecret({ name: 'resume-2', namespace });
  await core.patchNamespacedSecret({ name: 'resume-3', namespace, body: [{ op: 'replace', path: '/metadata/labels/cairn.dev~1resume', value: 'no' }] });

  const resumed = await watchAll(path, { labelSelector: selector, resourceVersion: last });
  const seen = await until(() => (resumed.events.length >= 4 ? resumed.events : undefined), 'the missed events');
  expect(seen.map((event) => `${event.type} ${(event.object['metadata'] as { name: string }).name}`)).toEqual(
    [
      'ADDED resume-2',
      'ADDED resume-3',
      'MODIFIED resume-1',
      'DELETED resume-2',
      // resume-3 left the selector: a selected watch sees it go.
      'DELETED resume-3',
    ].slice(0, seen.length),
  );
  await until(() => (resumed.events.length === 5 ? true : undefined), 'the fifth event');
  resumed.controller.abort();
});

test('410 Gone: a watch from a resourceVersion older than the history kept gets an ERROR event with an Expired Status; a relist resumes', async () => {
  const path = `/api/v1/namespaces/${namespace}/pods`;
  const old = endpoint.resourceVersion;
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 'before-compaction' } } });
  endpoint.compactHistory();
  const stale = await watchAll(path, { resourceVersion: old });
  await stale.ended;
  expect(stale.events).toEqual([
    {
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${old} (${Number(endpoint.resourceVersion) + 1})`,
        reason: 'Expired',
        code: 410,
      },
    },
  ]);
  const relisted = await core.listNamespacedPod({ namespace });
  const fresh = await watchAll(path, { resourceVersion: relisted.metadata!.resourceVersion, fieldSelector: 'metadata.name=after-relist' });
  await core.createNamespacedPod({ namespace, body: shellPod('after-relist', 'true') });
  await until(() => fresh.events.find((event) => event.type === 'MODIFIED' && ended(event.object)), 'the relisted watch to see the pod end');
  expect(fresh.events[0]!.type).toBe('ADDED');
  fresh.controller.abort();
});

test('OOMKilled: a container over its memory limit is killed by the kernel (a memory cgroup), reported as the kubelet reports it', async () => {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'hungry' },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'main',
            image,
            command: ['/opt/node/bin/node', '-e', 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1));'],
            resources: { limits: { memory: '64Mi', cpu: '1' } },
          },
        ],
      },
    },
  });
  const pod = await endpoint.waitForPod('hungry', ended);
  expect(endpoint.memoryLimitsEnforced).toBe(true);
  expect(pod['status']).toMatchObject({
    phase: 'Failed',
    qosClass: 'Guaranteed',
    containerStatuses: [{ state: { terminated: expect.objectContaining({ exitCode: 137, reason: 'OOMKilled' }) } }],
  });
});

test('simulated: an unschedulable pod stays Pending with PodScheduled=False, reason Unschedulable, until room is made', async () => {
  const hold = endpoint.holdScheduling({ labelSelector: 'size=huge' });
  await core.createNamespacedPod({ namespace, body: shellPod('too-big', 'true', { labels: { size: 'huge' } }) });
  await endpoint.waitForPod('too-big', (pod) => JSON.stringify(pod['status']).includes('Unschedulable'));
  const pending = await core.readNamespacedPod({ name: 'too-big', namespace });
  expect(pending.status!.phase).toBe('Pending');
  expect(pending.status!.conditions).toEqual([
    expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: expect.stringContaining('0/1 nodes are available') }),
  ]);
  expect(pending.spec!.nodeName).toBeUndefined();
  hold.release();
  expect(phaseOf(await endpoint.waitForPod('too-big', ended))).toBe('Succeeded');
});

test('simulated: an image that cannot be pulled is ErrImagePull, then ImagePullBackOff, the pod Pending', async () => {
  const watch = await watchAll(`/api/v1/namespaces/${namespace}/pods`, { fieldSelector: 'metadata.name=no-image', resourceVersion: endpoint.resourceVersion });
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name: 'no-image' }, spec: { restartPolicy: 'Never', containers: [{ name: 'main', image: 'registry.invalid/cairn/missing:1' }] } },
  });
  const reasons = () =>
    watch.events
      .flatMap((event) => (event.object['status'] as { containerStatuses?: { state: { waiting?: { reason: string } } }[] }).containerStatuses ?? [])
      .map((container) => container.state.waiting?.reason);
  await until(
    () => (reasons().includes('ImagePullBackOff') && reasons().lastIndexOf('ErrImagePull') > reasons().indexOf('ImagePullBackOff') ? true : undefined),
    'a pull, a back-off and a pull again',
  );
  const pod = await core.readNamespacedPod({ name: 'no-image', namespace });
  expect(pod.status!.phase).toBe('Pending');
  expect(pod.status!.containerStatuses![0]!.state!.waiting).toMatchObject({ reason: expect.stringMatching(/^(ErrImagePull|ImagePullBackOff)$/) });
  watch.controller.abort();
  // A pod that never started is deleted at once (graceful deletion is for running pods).
  await core.deleteNamespacedPod({ name: 'no-image', namespace });
  await until(() => (endpoint.object('pods', 'no-image') ? undefined : true), 'the pod to go');
});

test('simulated: an eviction kills the container: phase Failed, reason Evicted, a DisruptionTarget condition', async () => {
  await core.createNamespacedPod({ namespace, body: shellPod('evicted', 'while true; do sleep 0.05; done') });
  await endpoint.waitForPod('evicted', (pod) => phaseOf(pod) === 'Running');
  endpoint.evict('evicted');
  const pod = await endpoint.waitForPod('evicted', (candidate) => JSON.stringify(candidate['status']).includes('"terminated"'));
  expect(pod['status']).toMatchObject({
    phase: 'Failed',
    reason: 'Evicted',
    message: expect.stringContaining('The node was low on resource: memory'),
    conditions: expect.arrayContaining([expect.objectContaining({ type: 'DisruptionTarget', status: 'True', reason: 'TerminationByKubelet' })]),
    containerStatuses: [{ state: { terminated: expect.objectContaining({ exitCode: 137, reason: 'Error' }) } }],
  });
});

test('activeDeadlineSeconds ends a pod Failed with reason DeadlineExceeded; restartPolicy OnFailure restarts a failed container', async () => {
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: 'deadline' },
      spec: { restartPolicy: 'Never', activeDeadlineSeconds: 1, containers: [{ name: 'main', image, command: ['/bin/sh', '-c', 'sleep 30'] }] },
    },
  });
  expect((await endpoint.waitForPod('deadline', (pod) => JSON.stringify(pod['status']).includes('"terminated"')))['status']).toMatchObject({
    phase: 'Failed',
    reason: 'DeadlineExceeded',
  });
  await core.createNamespacedPod({
    namespace,
    body: { metadata: { name: 'retried' }, spec: { restartPolicy: 'OnFailure', containers: [{ name: 'main', image, command: ['/bin/sh', '-c', 'exit 1'] }] } },
  });
  const restarted = await endpoint.waitForPod('retried', (pod) => JSON.stringify(pod['status']).includes('"restartCount":2'));
  expect(restarted['status']).toMatchObject({ containerStatuses: [{ lastState: { terminated: expect.objectContaining({ exitCode: 1, reason: 'Error' }) } }] });
  await core.deleteNamespacedPod({ name: 'retried', namespace, gracePeriodSeconds: 0 });
});
