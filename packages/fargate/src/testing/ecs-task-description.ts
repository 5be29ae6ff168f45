// A task as DescribeTasks, RunTask and StopTask answer it: ECS's Task shape, times as epoch seconds.
import { account, region, type TestTask, type TestTaskDefinition } from './ecs-task.ts';

const seconds = (milliseconds: number) => milliseconds / 1_000;

/** The task as ECS describes it. */
export function describeTask(task: TestTask, definition: TestTaskDefinition): Record<string, unknown> {
  const containerName = definition.containerName ?? 'cairn-worker';
  const containerStatus =
    task.lastStatus === 'STOPPED' || task.lastStatus === 'DEPROVISIONING' ? 'STOPPED' : task.lastStatus === 'RUNNING' ? 'RUNNING' : 'PENDING';
  const request = task.request;
  return {
    taskArn: task.taskArn,
    clusterArn: task.clusterArn,
    taskDefinitionArn: `arn:aws:ecs:${region}:${account}:task-definition/${task.family}:1`,
    group: `family:${task.family}`,
    lastStatus: task.lastStatus,
    desiredStatus: task.desiredStatus,
    launchType: request['capacityProviderStrategy'] === undefined ? 'FARGATE' : undefined,
    capacityProviderName: (request['capacityProviderStrategy'] as { capacityProvider?: string }[] | undefined)?.[0]?.capacityProvider,
    platformVersion: '1.4.0',
    platformFamily: 'Linux',
    cpu: '1024',
    memory: '2048',
    availabilityZone: `${region}a`,
    startedBy: request['startedBy'],
    overrides: { containerOverrides: [], inferenceAcceleratorOverrides: [], ...((request['overrides'] as object | undefined) ?? {}) },
    createdAt: seconds(task.createdAt),
    ...(task.startedAt !== undefined
      ? { pullStartedAt: seconds(task.startedAt), pullStoppedAt: seconds(task.startedAt), startedAt: seconds(task.startedAt) }
      : {}),
    ...(task.stoppingAt !== undefined ? { stoppingAt: seconds(task.stoppingAt) } : {}),
    ...(task.stoppedAt !== undefined ? { stoppedAt: seconds(task.stoppedAt), executionStoppedAt: seconds(task.stoppedAt) } : {}),
    ...(task.lastStatus === 'STOPPED' ? { stopCode: task.stopCode, stoppedReason: task.stoppedReason } : {}),
    containers: [
      {
        containerArn: `arn:aws:ecs:${region}:${account}:container/${task.taskArn.split('/').slice(1).join('/')}/${containerName}`,
        taskArn: task.taskArn,
        name: containerName,
        lastStatus: containerStatus,
        ...(task.exitCode !== undefined && containerStatus === 'STOPPED' ? { exitCode: task.exitCode } : {}),
        ...(task.containerReason !== undefined ? { reason: task.containerReason } : {}),
      },
    ],
    attachments: [],
    version: 1,
  };
}
