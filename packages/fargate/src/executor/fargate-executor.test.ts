import type { RuntimeSpec } from '@cairn/core';
import { describeExecutor, type ExecutorTaskBehaviour } from '@cairn/conformance';
import type { FargateExecutor } from './fargate-executor.ts';
import { fargateWorldForFile } from '../testing/fargate.test-support.ts';

const world = fargateWorldForFile();

const runtimeOf = (behaviour: ExecutorTaskBehaviour): RuntimeSpec => ({
  kind: 'command',
  argv: behaviour.kind === 'succeed' ? ['/bin/true'] : behaviour.kind === 'fail' ? ['/bin/sh', '-c', `exit ${behaviour.exitCode}`] : ['/bin/sleep', '600'],
});

describeExecutor<FargateExecutor>({
  name: 'fargate (ECS endpoint, bubblewrap tasks, radosgw storage, KMS cipher)',
  create: () => world().executor(),
  task: (behaviour, executionId) => world().task(executionId, runtimeOf(behaviour)),
  // The tasks belong to the ECS endpoint, not to the executor: a new one finds them by handle.
  restart: () => world().executor(),
  // The ECS endpoint's own task list: how many containers it started for the execution.
  oracle: () => ({
    runCount: (executionId) =>
      world()
        .ecs.tasks()
        .filter((task) => task.containerStarted && task.environment['CAIRN_EXECUTION_ID'] === executionId).length,
  }),
  settleTimeoutMs: 30_000,
  pollIntervalMs: 50,
  timeoutMs: 90_000,
});
