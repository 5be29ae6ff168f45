// How attempts on Kubernetes fail, end to end through a composed server (ADR 0051): runs submitted
// over the HTTP API, their pods on the Kubernetes API test endpoint (the real worker in each, under
// bubblewrap), and what a user reads back of each failed item (`GET /v1/runs/{runId}/items`, the
// lines `cairn status` prints from it, the engine's attempt records): a pod OOMKilled by a real
// memory cgroup, one evicted by the kubelet, one Pending past `pendingTimeoutSeconds`, one whose
// image cannot be pulled. The last three name what Kubernetes said (as CAIRN_RUNTIME_FAILED, the
// executor's reason in its message); the OOM kill reaches the user as the worker saw it, a SIGKILL. A watch dropped and answered 410 Gone
// mid-run is relisted: every exit is still learned and nothing runs twice. No credential is in any
// object sent to the API server nor in the server's log.
import type { ItemState } from '@cairn/core';
import { podNameOf } from '@cairn/kubernetes';
import { radosgwConnection } from '@cairn/s3/testing';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { failureLines } from '../cli/run-progress.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import type { HttpApp } from '../http/http-app.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { composeServer } from './compose-server.ts';
import { capturedLogger, kubernetesServerWorldForFile, podsCreated, serverOnKubernetes } from './kubernetes-composition.test-support.ts';
import type { ServerComposition } from './server-composition.ts';

const world = kubernetesServerWorldForFile();
const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
/** A secret every item is given: it must reach no pod spec, no API request and no log line. */
const secretValue = 'kubernetes-failures-secret-marker-51c9';
// Short, for the test; long enough that a pod that does start (the other tests') is never held for it on a loaded machine.
const pendingTimeoutSeconds = 5;
const memoryLimit = '192Mi';

interface Server {
  readonly composition: ServerComposition;
  readonly app: HttpApp;
  readonly token: string;
  readonly log: ReturnType<typeof capturedLogger>;
}

interface ItemView {
  readonly itemId: string;
  readonly state: ItemState;
  readonly failure: { code: string; message: string; exitCode: number | null; signal: string | null; stderrTail: string } | null;
}

/** A server composed over the endpoint with the HTTP API in front of it; its secret set, its engine started. */
async function startServer(executor: Record<string, unknown>): Promise<Server> {
  const { directory, operatorToken } = await serverOnKubernetes(world(), executor);
  const loaded = loadServerConfig({ directory, env: {} });
  const log = capturedLogger();
  const composition = await composeServer(loaded, { logger: log.logger });
  const app = await buildHttpApi({ composition, host: '127.0.0.1', auth: 'tokens' });
  await composition.engine.setSecret('API_KEY', secretValue, actor);
  composition.start();
  return { composition, app, token: operatorToken, log };
}

let server: Server;
beforeAll(async () => {
  // One server for the file: a small memory limit (for the OOM kill) and a short pending timeout.
  server = await startServer({ pendingTimeoutSeconds, podTemplate: { resources: { limits: { memory: memoryLimit } } } });
}, 60_000);
afterAll(async () => {
  await server?.app.close();
  await server?.composition.close();
});

async function api<T>(on: Server, method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>): Promise<T> {
  const response = await on.app.inject({ method, url, headers: { authorization: `Bearer ${on.token}` }, ...(payload === undefined ? {} : { payload }) });
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json() as T;
}

/** Submits a one-run spec through `POST /v1/runs`; every item gets the secret. */
async function submit(on: Server, name: string, items: { id: string; argv: string[] }[]): Promise<string> {
  const { runId } = await api<{ runId: string }>(on, 'POST', '/v1/runs', {
    version: 1,
    name,
    concurrency: items.length,
    items: items.map(({ id, argv }) => ({ id, secrets: ['API_KEY'], runtime: { kind: 'command', argv } })),
  });
  return runId;
}

/** Waits for the run, then answers its items as `GET /v1/runs/{runId}/items` gives them and the failure lines `cairn status` prints from them. */
async function ended(on: Server, runId: string): Promise<{ state: string; items: ItemView[]; status: string }> {
  const run = await on.composition.engine.waitForRun(runId);
  const items = await api<ItemView[]>(on, 'GET', `/v1/runs/${runId}/items`);
  return { state: run.state, items, status: failureLines(items).join('\n') };
}

/** The one attempt of an item, as the engine recorded it (`GET …/attempts` answers the same records). */
function onlyAttempt(on: Server, runId: string, itemId: string) {
  const attempts = on.composition.engine.attempts(runId, itemId);
  expect(attempts).toHaveLength(1);
  return attempts[0]!;
}

// As the endpoint last kept it: the executor deletes a pod once it has read its exit.
const podGone = (runId: string, itemId: string) => world().endpoint.wasDeleted('pods', podNameOf(`${runId}/${itemId}/1`));
const podOf = (runId: string, itemId: string) =>
  world().endpoint.lastSeen('pods', podNameOf(`${runId}/${itemId}/1`)) as
    { status?: { phase?: string; reason?: string; containerStatuses?: { state?: Record<string, { reason?: string }> }[] } } | undefined;

/** Nothing secret in what the server sent the API server (pods, secrets, policies) nor in its log. */
function expectNoCredential(on: Server): void {
  const sent = world()
    .endpoint.requests.map((request) => JSON.stringify(request.body ?? null))
    .join('\n');
  const pods = JSON.stringify([...podsCreated(world().endpoint).values()]);
  for (const form of [secretValue, Buffer.from(secretValue).toString('base64')]) {
    expect(sent).not.toContain(form);
    expect(on.log.text()).not.toContain(form);
  }
  // The server's S3 credentials: pods reach storage as their own identity.
  expect(pods).not.toContain(radosgwConnection().secretAccessKey);
  expect(on.log.text()).not.toContain(radosgwConnection().secretAccessKey);
}

test(
  "a pod OOMKilled by its memory limit: the item fails CAIRN_ATTEMPT_KILLED by SIGKILL, the worker's account, with the executor's word on it: OOMKilled and the limit",
  { timeout: 60_000 },
  async () => {
    const runId = await submit(server, 'oom', [
      { id: 'hungry', argv: ['/opt/node/bin/node', '-e', 'const kept = []; for (;;) kept.push(Buffer.alloc(1 << 20, 1));'] },
    ]);
    const { state, items, status } = await ended(server, runId);
    expect(state).toBe('failed');
    // Kubernetes said OOMKilled (a real cgroup's kill, as the kubelet reports it).
    expect(world().endpoint.memoryLimitsEnforced).toBe(true);
    expect(podOf(runId, 'hungry')?.status?.containerStatuses?.[0]?.state?.['terminated']).toMatchObject({ reason: 'OOMKilled' });
    // The worker's account of its runtime's end (a SIGKILL Cairn did not send), and beside it what
    // the executor learned from Kubernetes (attemptFailureOf in @cairn/engine keeps both).
    const failure = { code: 'CAIRN_ATTEMPT_KILLED', exitCode: null, signal: 'SIGKILL', stderrTail: '' };
    expect(items).toMatchObject([{ itemId: 'hungry', state: 'failed', failure }]);
    const message = (items[0] as { failure: { message: string } }).failure.message;
    expect(message).toMatch(
      /^The runtime was ended by signal SIGKILL, which Cairn did not send \(out of memory, a resource limit, a crash\)\. The executor says: CAIRN_ATTEMPT_MEMORY_EXCEEDED: .*OOMKilled/,
    );
    expect(message).toContain('192Mi');
    expect(message).not.toContain('..');
    expect(onlyAttempt(server, runId, 'hungry')).toMatchObject({ state: 'failed', failure: { ...failure, message } });
    expect(status).toBe(`hungry failed: CAIRN_ATTEMPT_KILLED ${message} (signal SIGKILL)`);
    expectNoCredential(server);
  },
);

test('an evicted pod: the item fails, and its failure says Kubernetes evicted it and what the kubelet said', { timeout: 60_000 }, async () => {
  const runId = await submit(server, 'evicted', [{ id: 'evicted', argv: ['/bin/sleep', '600'] }]);
  const name = podNameOf(`${runId}/evicted/1`);
  await world().endpoint.waitForPod(name, (pod) => JSON.stringify(pod['status']).includes('"running"'), 30_000);
  world().endpoint.evict(name, 'The node was low on resource: ephemeral-storage.');
  const { state, items, status } = await ended(server, runId);
  expect(state).toBe('failed');
  expect(podOf(runId, 'evicted')?.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
  // Killed without a grace period, the worker wrote no result: the executor's named end is the account.
  const message =
    /^The task failed: Evicted: Kubernetes evicted the pod from its node: The node was low on resource: ephemeral-storage\. The attempt ran on a node under pressure/;
  const failure = { code: 'CAIRN_RUNTIME_FAILED', message: expect.stringMatching(message), exitCode: null, signal: null };
  expect(items).toMatchObject([{ itemId: 'evicted', state: 'failed', failure }]);
  // One sentence after another: the executor's reason does not close itself before the engine does.
  expect(items[0]!.failure!.message).not.toContain('..');
  expect(onlyAttempt(server, runId, 'evicted')).toMatchObject({ state: 'failed', failure });
  expect(status).toMatch(/^evicted failed: CAIRN_RUNTIME_FAILED The task failed: Evicted: Kubernetes evicted the pod/);
  expectNoCredential(server);
});

test(
  `a pod Pending past pendingTimeoutSeconds: the item fails Unschedulable, saying why and naming config.executor's option; its container never ran`,
  { timeout: 60_000 },
  async () => {
    const hold = world().endpoint.holdScheduling({ labelSelector: 'cairn.dev/item=never-scheduled' });
    const startsBefore = world().endpoint.containerStarts;
    try {
      const runId = await submit(server, 'unschedulable', [{ id: 'never-scheduled', argv: ['/bin/true'] }]);
      const { state, items, status } = await ended(server, runId);
      expect(state).toBe('failed');
      const message = new RegExp(
        `^The task failed: Unschedulable: the pod was not scheduled within ${pendingTimeoutSeconds} s \\(config\\.executor\\.pendingTimeoutSeconds\\): 0/1 nodes are available: 1 Insufficient memory`,
      );
      const failure = { code: 'CAIRN_RUNTIME_FAILED', message: expect.stringMatching(message), exitCode: null, signal: null };
      expect(items).toMatchObject([{ itemId: 'never-scheduled', state: 'failed', failure }]);
      // One sentence after another: the executor's reason does not close itself before the engine does.
      expect(items[0]!.failure!.message).not.toContain('..');
      const attempt = onlyAttempt(server, runId, 'never-scheduled');
      expect(attempt).toMatchObject({ state: 'failed', failure, artifacts: null });
      // Not before its timeout (the pod's creationTimestamp is in whole seconds, so a second less at most).
      expect(Date.parse(attempt.finishedAt!) - Date.parse(attempt.dispatchedAt)).toBeGreaterThanOrEqual((pendingTimeoutSeconds - 1) * 1_000);
      expect(status).toMatch(/^never-scheduled failed: CAIRN_RUNTIME_FAILED The task failed: Unschedulable: /);
      // Deleted, so that it cannot start once the cluster has room.
      expect(podGone(runId, 'never-scheduled')).toBe(true);
    } finally {
      hold.release();
    }
    expect(world().endpoint.containerStarts).toBe(startsBefore);
    expectNoCredential(server);
  },
);

test(
  'an image the registry does not have: the item fails ImagePullBackOff, naming the image and the config options (config.executor.image)',
  { timeout: 60_000 },
  async () => {
    const missing = await startServer({ image: 'registry.invalid/cairn/missing:1' });
    const startsBefore = world().endpoint.containerStarts;
    try {
      const runId = await submit(missing, 'no-image', [{ id: 'no-image', argv: ['/bin/true'] }]);
      const { state, items, status } = await ended(missing, runId);
      expect(state).toBe('failed');
      const message =
        /^The task failed: ImagePullBackOff: the worker image could not be pulled: Back-off pulling image "registry\.invalid\/cairn\/missing:1"\. Check config\.executor\.image and config\.executor\.podTemplate\.imagePullSecrets/;
      const failure = { code: 'CAIRN_RUNTIME_FAILED', message: expect.stringMatching(message), exitCode: null, signal: null };
      expect(items).toMatchObject([{ itemId: 'no-image', state: 'failed', failure }]);
      // One sentence after another: the executor's reason does not close itself before the engine does.
      expect(items[0]!.failure!.message).not.toContain('..');
      expect(onlyAttempt(missing, runId, 'no-image')).toMatchObject({ state: 'failed', failure, artifacts: null });
      expect(status).toMatch(/^no-image failed: CAIRN_RUNTIME_FAILED The task failed: ImagePullBackOff: /);
      // Deleted, so that it cannot start once the image is there; it never ran.
      expect(podGone(runId, 'no-image')).toBe(true);
      expect(world().endpoint.containerStarts).toBe(startsBefore);
      expectNoCredential(missing);
    } finally {
      await missing.app.close();
      await missing.composition.close();
    }
  },
);

test('the pod watch dropped and answered 410 Gone mid-run: it relists, every exit is learned, nothing runs twice', { timeout: 60_000 }, async () => {
  const { endpoint } = world();
  const itemIds = ['first', 'second', 'third'];
  const startsBefore = endpoint.containerStarts;
  const lists = () =>
    endpoint.requests.filter(
      (request) => request.method === 'GET' && request.path === `/api/v1/namespaces/${endpoint.namespace}/pods` && request.query['watch'] === undefined,
    ).length;
  const runId = await submit(
    server,
    'watch-dropped',
    itemIds.map((id) => ({ id, argv: ['/bin/sh', '-c', `sleep 4 && echo ${id} > ${id}.txt`] })),
  );
  const names = itemIds.map((id) => podNameOf(`${runId}/${id}/1`));
  // Every container started (on a loaded machine the first may even have ended: it is not waited for forever).
  const started = (pod: Record<string, unknown>) => /"(running|terminated)"/.test(JSON.stringify(pod['status']));
  for (const name of names) await endpoint.waitForPod(name, started, 30_000);
  const runningAtDrop = names.filter((name) => JSON.stringify(endpoint.object('pods', name)?.['status']).includes('"running"'));
  // At least the last one started still runs: its exit can only be learned after the drop.
  expect(runningAtDrop.length).toBeGreaterThanOrEqual(1);
  const listsBefore = lists();
  // A write the pod watch does not see, then etcd's compaction: resuming from the watch's last version is 410 Gone.
  await endpoint
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedSecret({ namespace: endpoint.namespace, body: { metadata: { name: 'unrelated-write' } } });
  endpoint.compactHistory();
  expect(endpoint.dropWatches()).toBeGreaterThanOrEqual(1);
  const { state, items } = await ended(server, runId);
  expect(state).toBe('succeeded');
  // The resume was answered 410 and the executor listed the pods again.
  expect(lists()).toBeGreaterThan(listsBefore);
  expect(items.map((item) => [item.itemId, item.state])).toEqual(itemIds.map((id) => [id, 'succeeded']));
  for (const id of itemIds) expect(onlyAttempt(server, runId, id)).toMatchObject({ state: 'succeeded', exitCode: 0 });
  // Nothing ran twice: one pod created and one container run per item, one dispatch each, none lost.
  expect(endpoint.containerStarts - startsBefore).toBe(itemIds.length);
  const created = [...podsCreated(endpoint).keys()].filter((id) => id.startsWith(`${runId}/`)).sort();
  expect(created).toEqual(itemIds.map((id) => `${runId}/${id}/1`).sort());
  const entries = [...server.composition.engine.audit.runEntries(runId)];
  expect(entries.filter((entry) => entry.action === 'attempt.dispatched')).toHaveLength(itemIds.length);
  expect(entries.some((entry) => entry.action === 'attempt.lost')).toBe(false);
  expectNoCredential(server);
});
