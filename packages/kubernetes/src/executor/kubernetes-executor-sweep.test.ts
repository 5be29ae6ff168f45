// Ended pods do not pile up: an exit read deletes its pod, and a restarted executor's sweep deletes
// the pods of attempts the engine no longer knows, never one whose exit is still to be read. All
// through the real client-node against the API test endpoint, read back through the endpoint.
import type { ExecutionHandle, ExecutionStatus, RuntimeSpec } from '@cairn/core';
import { CoreV1Api } from '@kubernetes/client-node';
import { expect, test } from 'vitest';
import { kubernetesWorldForFile, workerImage } from '../testing/kubernetes-world.test-support.ts';
import { attemptEndKey } from './attempt-end-record.ts';
import { executionDigestOf, ownerDigestOf, podNameOf } from './execution-labels.ts';
import type { KubernetesExecutor } from './kubernetes-executor.ts';

const world = kubernetesWorldForFile();
let sequence = 0;
const executionId = (name: string) => `run-sweep-${Date.now()}-${sequence++}/${name}/1`;
const sleepLong: RuntimeSpec = { kind: 'command', argv: ['/bin/sleep', '600'] };
const stored = (handle: ExecutionHandle) => JSON.parse(JSON.stringify(handle)) as ExecutionHandle;

async function until<T>(read: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
const exited = (executor: KubernetesExecutor, handle: ExecutionHandle) =>
  until(
    async () => {
      const status: ExecutionStatus = await executor.inspect(handle);
      return status.state === 'exited' ? status : undefined;
    },
    `${handle['executionId'] as string} to exit`,
  );
const terminated = (pod: Record<string, unknown>) => JSON.stringify(pod['status']).includes('"terminated"');
const podPosts = (id: string) =>
  world().endpoint.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/pods') && JSON.stringify(request.body).includes(id));

test('an exit read deletes the pod after storing the answer: a restarted executor answers the same, and a start repeated after it makes no pod', async () => {
  const { endpoint, storage } = world();
  const first = world().executor();
  const id = executionId('done');
  const handle = await first.start(world().task(id, { kind: 'command', argv: ['/bin/sh', '-c', 'exit 4'] }));
  const status = await exited(first, handle);
  expect(status).toMatchObject({ state: 'exited', outcome: 'failed', exitCode: 4 });
  await until(() => (endpoint.wasDeleted('pods', podNameOf(id)) ? true : undefined), 'the pod to be deleted');
  // The answer was stored before the delete, with the pod's uid.
  const end = JSON.parse(new TextDecoder().decode((await storage.get(attemptEndKey(id)))!)) as Record<string, unknown>;
  expect(end).toEqual({ executionId: id, status, uid: handle['uid'], answered: true });
  first.close();

  const restarted = world().executor();
  expect(await restarted.inspect(stored(handle))).toEqual(status);
  // The engine starting the same execution again (its start was not recorded): the same handle, no second pod.
  expect(await restarted.start(world().task(id, { kind: 'command', argv: ['/bin/sh', '-c', 'exit 4'] }))).toEqual(handle);
  expect(podPosts(id)).toHaveLength(1);
});

test("a restarted executor's sweep deletes its own pods of attempts that are over, keeps the live ones (their exits still read) and another server's", async () => {
  const { endpoint } = world();
  const first = world().executor();
  const live = await first.start(world().task(executionId('live'), { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 3'] }));
  const lostRunning = await first.start(world().task(executionId('lost-running'), sleepLong));
  const endedUnread = await first.start(world().task(executionId('ended-unread'), { kind: 'command', argv: ['/bin/true'] }));
  // Ended while no executor read it (the server was down, its attempt recorded lost meanwhile).
  await endpoint.waitForPod(endedUnread['pod'] as string, terminated, 45_000);
  await endpoint.waitForPod(lostRunning['pod'] as string, (pod) => JSON.stringify(pod['status']).includes('"running"'), 45_000);
  first.close();

  // Another server's pod in the same namespace: the same labels but its owner (another storage location).
  const foreignId = executionId('foreign');
  const foreign = podNameOf(foreignId);
  const otherOwner = ownerDigestOf({ bucket: 'another-server', prefix: 'cairn/' });
  await endpoint
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedPod({
      namespace: endpoint.namespace,
      body: {
        metadata: {
          name: foreign,
          labels: { 'app.kubernetes.io/managed-by': 'cairn', 'cairn.dev/execution': executionDigestOf(foreignId), 'cairn.dev/owner': otherOwner },
          annotations: { 'cairn.dev/execution-id': foreignId },
        },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          containers: [{ name: 'cairn-worker', image: workerImage, command: ['/bin/sleep', '600'] }],
        },
      },
    });

  const restarted = world().executor();
  const asked: string[] = [];
  const deleted = await restarted.sweep((id) => {
    asked.push(id);
    return id === live['executionId'];
  });
  expect(deleted.sort()).toEqual([lostRunning['pod'] as string, endedUnread['pod'] as string].sort());
  // Only its own pods were asked about: the other server's is not even considered.
  expect(asked.sort()).toEqual([live, lostRunning, endedUnread].map((handle) => handle['executionId'] as string).sort());
  for (const handle of [lostRunning, endedUnread]) {
    const name = handle['pod'] as string;
    for (const [resource, object] of [
      ['pods', name],
      ['secrets', `${name}-credential`],
      ['networkpolicies', `${name}-egress`],
    ] as const)
      await until(() => (endpoint.wasDeleted(resource, object) ? true : undefined), `${resource}/${object} to be deleted`);
  }
  expect(endpoint.object('pods', foreign)).toBeDefined();
  expect(endpoint.object('pods', live['pod'] as string)).toBeDefined();
  // The live attempt's exit is read as ever, then its pod goes too.
  expect(await exited(restarted, stored(live))).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  await until(() => (endpoint.wasDeleted('pods', live['pod'] as string) ? true : undefined), 'the live pod to be deleted once read');
  // A second sweep finds nothing of its own left.
  expect(await restarted.sweep(() => false)).toEqual([]);
  await endpoint.kubeConfig().makeApiClient(CoreV1Api).deleteNamespacedPod({ name: foreign, namespace: endpoint.namespace, gracePeriodSeconds: 0 });
});
