// The ECS test endpoint, through the real SDK client: what the executor's tests rely on it for.
import { DescribeTasksCommand, RunTaskCommand, StopTaskCommand, type RunTaskCommandInput } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { EcsTestEndpoint } from './ecs-endpoint.ts';
import { workerTestRootfs, type WorkerTestRootfs } from './worker-test-rootfs.ts';

let endpoint: EcsTestEndpoint;
let rootfs: WorkerTestRootfs;
beforeAll(async () => {
  rootfs = workerTestRootfs();
  const shell = { ...rootfs.definition, environment: { ...rootfs.definition.environment, FROM_DEFINITION: 'yes' } };
  endpoint = await EcsTestEndpoint.start({
    taskDefinitions: {
      shell: { ...shell, entrypoint: ['/bin/sh', '-c', 'echo "uid=$(id -u)"; env; exit 7'] },
      sleeper: { ...shell, entrypoint: ['/bin/sh', '-c', 'trap "echo got-term; exit 0" TERM; echo trapped; while true; do sleep 0.05; done'] },
      stubborn: { ...shell, entrypoint: ['/bin/sh', '-c', 'trap "" TERM; echo trapped; while true; do sleep 0.05; done'] },
    },
    stopTimeoutMs: 300,
  });
});
afterAll(async () => {
  await endpoint.stop();
  rootfs.remove();
});

const network = { awsvpcConfiguration: { subnets: ['subnet-0test'] } };
const run = (input: Partial<RunTaskCommandInput>) =>
  endpoint.client().send(new RunTaskCommand({ taskDefinition: 'shell', launchType: 'FARGATE', networkConfiguration: network, ...input }));
const describe = async (arn: string) => (await endpoint.client().send(new DescribeTasksCommand({ tasks: [arn] }))).tasks![0]!;

test('a task runs its entrypoint from the rootfs as uid 1000 with the definition env plus overrides and nothing of the host; STOPPED with its exit code', async () => {
  process.env['CAIRN_HOST_ONLY'] = 'host-value';
  try {
    const answer = await run({ overrides: { containerOverrides: [{ name: 'cairn-worker', environment: [{ name: 'FROM_OVERRIDE', value: 'yes' }] }] } });
    const arn = answer.tasks![0]!.taskArn!;
    expect(answer.tasks![0]!.lastStatus).toBe('PROVISIONING');
    const seen = new Set<string>();
    // Looked at every 5 ms until it stops, for up to 30 s (400 looks were about 2 s: short for a container on a loaded machine).
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      const task = await describe(arn);
      seen.add(task.lastStatus!);
      if (task.lastStatus === 'STOPPED') break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(seen).toContain('STOPPED');
    const task = await describe(arn);
    expect(task).toMatchObject({ stopCode: 'EssentialContainerExited', desiredStatus: 'STOPPED', containers: [{ name: 'cairn-worker', exitCode: 7 }] });
    expect(task.createdAt).toBeInstanceOf(Date);
    const output = endpoint.tasks().find((candidate) => candidate.taskArn === arn)!.output;
    expect(output).toContain('uid=1000');
    expect(output).toContain('FROM_DEFINITION=yes');
    expect(output).toContain('FROM_OVERRIDE=yes');
    expect(output).not.toContain('CAIRN_HOST_ONLY');
  } finally {
    delete process.env['CAIRN_HOST_ONLY'];
  }
});

test('client tokens: the same request answers the same task, other parameters ConflictException with its ARN', async () => {
  const first = await run({ clientToken: 'token-1', startedBy: 'a' });
  const again = await run({ clientToken: 'token-1', startedBy: 'a' });
  expect(again.tasks![0]!.taskArn).toBe(first.tasks![0]!.taskArn);
  const conflict = await run({ clientToken: 'token-1', startedBy: 'b' }).catch((error: unknown) => error);
  expect(conflict).toMatchObject({ name: 'ConflictException', resourceIds: [first.tasks![0]!.taskArn] });
  await expect(run({ clientToken: 'x'.repeat(65) })).rejects.toMatchObject({ name: 'InvalidParameterException' });
});

test('refusals have ECS error shapes; unknown tasks are MISSING; at most 100 per DescribeTasks', async () => {
  await expect(run({ cluster: 'nowhere' })).rejects.toMatchObject({ name: 'ClusterNotFoundException' });
  await expect(run({ networkConfiguration: undefined })).rejects.toMatchObject({ name: 'InvalidParameterException' });
  await expect(run({ taskDefinition: 'unknown' })).rejects.toMatchObject({ name: 'InvalidParameterException', message: 'TaskDefinition not found.' });
  const missing = 'arn:aws:ecs:us-east-1:111122223333:task/default/0123456789abcdef0123456789abcdef';
  expect((await endpoint.client().send(new DescribeTasksCommand({ tasks: [missing] }))).failures).toEqual([{ arn: missing, reason: 'MISSING' }]);
  await expect(endpoint.client().send(new DescribeTasksCommand({ tasks: Array.from({ length: 101 }, () => missing) }))).rejects.toMatchObject({
    name: 'InvalidParameterException',
  });
  endpoint.inject('DescribeTasks', 'ThrottlingException');
  await expect(endpoint.client().send(new DescribeTasksCommand({ tasks: [missing] }))).rejects.toMatchObject({ name: 'ThrottlingException' });
});

test('StopTask sends SIGTERM to the container (not to bwrap), SIGKILL after the stop timeout; stop code UserInitiated', async () => {
  const graceful = (await run({ taskDefinition: 'sleeper' })).tasks![0]!.taskArn!;
  const stubborn = (await run({ taskDefinition: 'stubborn' })).tasks![0]!.taskArn!;
  for (const arn of [graceful, stubborn]) {
    while ((await describe(arn)).lastStatus !== 'RUNNING') await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Stopped once both containers have set their trap (they say so), however long they take to start.
  const trapped = (arn: string) =>
    endpoint
      .tasks()
      .find((candidate) => candidate.taskArn === arn)!
      .output.includes('trapped');
  await vi.waitFor(() => expect([trapped(graceful), trapped(stubborn)]).toEqual([true, true]), { timeout: 10_000, interval: 20 });
  for (const arn of [graceful, stubborn]) await endpoint.client().send(new StopTaskCommand({ task: arn, reason: 'test stop' }));
  const [ended, killed] = [await endpoint.waitForStopped(graceful), await endpoint.waitForStopped(stubborn)];
  expect(ended).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: 'test stop', exitCode: 0 });
  expect(ended.output).toContain('got-term');
  expect(killed).toMatchObject({ stopCode: 'UserInitiated', exitCode: 137 });
  endpoint.forget(graceful);
  expect((await endpoint.client().send(new DescribeTasksCommand({ tasks: [graceful] }))).failures?.[0]?.reason).toBe('MISSING');
});
