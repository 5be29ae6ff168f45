import type { RuntimeSpec } from '@cairn/core';
import { describeExecutor, type ExecutorTaskBehaviour } from '@cairn/conformance';
import { afterAll, beforeAll } from 'vitest';
import { kubernetesWorldForFile } from '../testing/kubernetes-world.test-support.ts';
import { StartedContainers } from '../testing/started-containers.test-support.ts';
import type { KubernetesExecutor } from './kubernetes-executor.ts';

const world = kubernetesWorldForFile();
let started: StartedContainers;
beforeAll(async () => {
  started = await StartedContainers.watch(world().endpoint);
});
afterAll(() => started.close());

const runtimeOf = (behaviour: ExecutorTaskBehaviour): RuntimeSpec => ({
  kind: 'command',
  argv: behaviour.kind === 'succeed' ? ['/bin/true'] : behaviour.kind === 'fail' ? ['/bin/sh', '-c', `exit ${behaviour.exitCode}`] : ['/bin/sleep', '600'],
});

describeExecutor<KubernetesExecutor>({
  name: 'kubernetes (API test endpoint through client-node, bubblewrap pods, radosgw storage, KMS cipher)',
  create: () => world().executor(),
  task: (behaviour, executionId) => world().task(executionId, runtimeOf(behaviour)),
  // The pods belong to the API server, not to the executor: a new one finds them by handle.
  restart: () => world().executor(),
  cleanup: (executor) => executor.close(),
  // Its own watch on the namespace's pods: how many pods of the execution started their container.
  oracle: () => ({ runCount: (executionId) => started.runCount(executionId) }),
  settleTimeoutMs: 30_000,
  pollIntervalMs: 50,
  timeoutMs: 90_000,
});
