// The executor's ECS behaviour beyond the shared suite: client tokens, conflicts, throttling,
// RunTask failures, DescribeTasks batching, tasks ECS no longer knows, and cancel.
import { createHash } from 'node:crypto';
import type { ExecutionHandle, RuntimeSpec } from '@cairn/core';
import { resultKey } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { fargateWorldForFile } from '../testing/fargate.test-support.ts';
import { clientTokenOf } from './client-token.ts';
import { createFargateExecutor } from './fargate-executor.ts';
import { describeTasksLimit, liveAnswerFreshnessMs } from './describe-tasks-batcher.ts';

const world = fargateWorldForFile();
let sequence = 0;
const executionId = (name: string) => `ecs-${name}-${Date.now()}-${sequence++}/item/1`;
const succeed: RuntimeSpec = { kind: 'command', argv: ['/bin/true'] };
const sleepLong: RuntimeSpec = { kind: 'command', argv: ['/bin/sleep', '600'] };

async function waitForExit(executor: ReturnType<typeof world>['executor'] extends (...args: never[]) => infer E ? E : never, handle: ExecutionHandle) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await executor.inspect(handle);
    if (status.state === 'exited' || status.state === 'unknown') return status;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const runTaskBodies = () => world().ecs.requests.filter((request) => request.operation === 'RunTask');

test('the client token is base64url(SHA-256(execution id)), at most 64 printable characters', () => {
  const long = `${'r'.repeat(200)}/item/1`;
  expect(clientTokenOf(long)).toBe(createHash('sha256').update(long).digest('base64url'));
  expect(clientTokenOf(long)).toMatch(/^[\x21-\x7e]{1,64}$/);
  expect(clientTokenOf('a/b/1')).not.toBe(clientTokenOf('a/b/2'));
});

test('a start repeated by another executor instance (a restart) sends the same client token and gets the one task', async () => {
  const id = executionId('token');
  const task = world().task(id, succeed);
  const first = await world().executor().start(task);
  const second = await world().executor().start(task);
  expect(second).toEqual(first);
  const bodies = runTaskBodies().filter((request) => JSON.stringify(request.body).includes(id));
  expect(bodies).toHaveLength(2);
  expect(bodies.map((request) => request.body['clientToken'])).toEqual([clientTokenOf(id), clientTokenOf(id)]);
  expect(
    world()
      .ecs.tasks()
      .filter((candidate) => candidate.environment['CAIRN_EXECUTION_ID'] === id),
  ).toHaveLength(1);
  expect((await waitForExit(world().executor(), first)).outcome).toBe('succeeded');
});

test('a start retried with other parameters is answered ConflictException, read for the task that exists', async () => {
  const id = executionId('conflict');
  const task = world().task(id, sleepLong);
  const first = await world().executor().start(task);
  // Settings changed across a restart: another security group, so ECS sees another request under the same token.
  const changed = world().executor({ securityGroups: ['sg-0cairn0other'] });
  const before = world().ecs.count('RunTask');
  const second = await changed.start(task);
  expect(world().ecs.count('RunTask')).toBe(before + 1);
  expect(second).toEqual(first);
  expect(
    world()
      .ecs.tasks()
      .filter((candidate) => candidate.environment['CAIRN_EXECUTION_ID'] === id),
  ).toHaveLength(1);
  await changed.cancel(second);
  expect((await waitForExit(changed, second)).outcome).toBe('cancelled');
});

test('throttling is retried with backoff until ECS answers; past maxAttempts it is CAIRN_EXECUTOR_UNAVAILABLE', async () => {
  const id = executionId('throttled');
  const before = world().ecs.count('RunTask');
  world().ecs.inject('RunTask', 'ThrottlingException', 2);
  const handle = await world().executor().start(world().task(id, succeed));
  expect(world().ecs.count('RunTask')).toBe(before + 3);
  expect((await waitForExit(world().executor(), handle)).outcome).toBe('succeeded');

  world().ecs.inject('RunTask', 'ThrottlingException', 2);
  await expect(
    world()
      .executor({ maxAttempts: 2 })
      .start(world().task(executionId('throttled-out'), succeed)),
  ).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_UNAVAILABLE',
    message: expect.stringContaining('ThrottlingException'),
  });

  // DescribeTasks is retried the same way.
  world().ecs.inject('DescribeTasks', 'ThrottlingException', 2);
  expect((await world().executor().inspect(handle)).outcome).toBe('succeeded');
});

test('failures in a 200 RunTask answer are CAIRN_EXECUTOR_START_FAILED naming the reason; refusals name the fix', async () => {
  world().ecs.failRunTask('RESOURCE:ENI');
  await expect(
    world()
      .executor()
      .start(world().task(executionId('failures'), succeed)),
  ).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    message: expect.stringContaining('RESOURCE:ENI'),
  });
  await expect(
    world()
      .executor({ cluster: 'nowhere' })
      .start(world().task(executionId('no-cluster'), succeed)),
  ).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    message: expect.stringMatching(/ClusterNotFoundException.*fargate\.cluster/),
  });
  world().ecs.inject('RunTask', 'AccessDeniedException');
  await expect(
    world()
      .executor()
      .start(world().task(executionId('denied'), succeed)),
  ).rejects.toMatchObject({
    code: 'CAIRN_EXECUTOR_START_FAILED',
    message: expect.stringContaining('iam:PassRole'),
  });
});

test('RunTask asks for Fargate in the configured subnets and security groups, with no public IP unless asked', async () => {
  const id = executionId('network');
  await world()
    .executor({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }], assignPublicIp: true })
    .start(world().task(id, succeed));
  const plain = executionId('network-plain');
  await world().executor().start(world().task(plain, succeed));
  const bodyOf = (execution: string) => runTaskBodies().find((request) => request.raw.includes(execution))!.body;
  expect(bodyOf(plain)).toMatchObject({
    launchType: 'FARGATE',
    networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-0cairn0test'], securityGroups: ['sg-0cairn0test'], assignPublicIp: 'DISABLED' } },
  });
  expect(bodyOf(id)).toMatchObject({
    capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
    networkConfiguration: { awsvpcConfiguration: { assignPublicIp: 'ENABLED' } },
  });
  expect(bodyOf(id)['launchType']).toBeUndefined();
});

test('a task ECS no longer knows (MISSING) is answered from its result record, else unknown with the reason, at once', async () => {
  const executor = world().executor();
  const finished = executionId('missing-record');
  const handle = await executor.start(world().task(finished, succeed));
  const status = await waitForExit(executor, handle);
  expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  world().ecs.forget(handle['taskArn'] as string);
  // The record read to answer is carried with the answer (ADR 0060): the engine does not read it again.
  const stored = JSON.parse(new TextDecoder().decode((await world().storage.get(resultKey(finished)))!)) as unknown;
  expect(await world().executor().inspect(handle)).toEqual({
    state: 'exited',
    outcome: 'succeeded',
    exitCode: 0,
    resultKey: resultKey(finished),
    result: stored,
  });

  // Stopped before its container ever ran: no record. Forgotten, it is unknown, and says why.
  const never = executionId('missing-none');
  const stopped = await executor.start(world().task(never, sleepLong));
  await executor.cancel(stopped);
  await world().ecs.waitForStopped(stopped['taskArn'] as string);
  world().ecs.forget(stopped['taskArn'] as string);
  const unknown = await executor.inspect(stopped);
  expect(unknown.state).toBe('unknown');
  expect(unknown.reason).toContain('MISSING');
  expect(unknown.reason).toContain('no result record');
});

test('cancel stops the task with a reason; the worker ends the attempt as cancelled and records it', async () => {
  const executor = world().executor();
  const id = executionId('cancel');
  const handle = await executor.start(world().task(id, { kind: 'command', argv: ['/bin/sh', '-c', 'echo started; exec sleep 600'] }));
  const deadline = Date.now() + 30_000;
  while ((await executor.inspect(handle)).state !== 'running') {
    if (Date.now() > deadline) throw new Error('never running');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // Running per ECS is not yet running per the worker: wait for the runtime's first line in the live log.
  while ((await world().storage.list({ prefix: `live-logs/${id}/` })).keys.length === 0) {
    if (Date.now() > deadline) throw new Error('the worker never started the runtime');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await executor.cancel(handle);
  await executor.cancel(handle);
  const status = await waitForExit(executor, handle);
  expect(status).toMatchObject({ state: 'exited', outcome: 'cancelled', resultKey: resultKey(id) });
  const task = world()
    .ecs.tasks()
    .find((candidate) => candidate.taskArn === handle['taskArn'])!;
  expect(task).toMatchObject({ stopCode: 'UserInitiated', stoppedReason: `Cancelled by Cairn: execution ${id}`, exitCode: 143 });
  expect(world().ecs.count('StopTask')).toBeGreaterThanOrEqual(1);
  const record = JSON.parse(new TextDecoder().decode((await world().storage.get(resultKey(id)))!)) as { outcome: string };
  expect(record.outcome).toBe('cancelled');
});

test('a handle of another execution, or of another executor, is refused or unknown, and its task is not stopped', async () => {
  const executor = world().executor();
  const handle = await executor.start(world().task(executionId('foreign'), sleepLong));
  const foreign = { ...handle, executionId: executionId('not-this') };
  expect((await executor.inspect(foreign)).state).toBe('unknown');
  await executor.cancel(foreign);
  expect(
    world()
      .ecs.tasks()
      .find((task) => task.taskArn === handle['taskArn'])!.desiredStatus,
  ).toBe('RUNNING');
  await expect(executor.inspect({ ...handle, taskArn: 'task-1' })).rejects.toMatchObject({ code: 'CAIRN_EXECUTOR_HANDLE_INVALID' });
  await executor.cancel(handle);
});

test('bad settings name every option', () => {
  expect(() => createFargateExecutor({ ...world().settings(), subnets: [], cluster: '', taskCipher: undefined as never, trustedKeys: [] })).toThrow(
    expect.objectContaining({
      code: 'CAIRN_CONFIG_INVALID',
      issues: expect.arrayContaining([
        expect.objectContaining({ path: 'fargate.subnets' }),
        expect.objectContaining({ path: 'fargate.cluster' }),
        expect.objectContaining({ path: 'fargate.trustedKeys' }),
      ]),
    }),
  );
  expect(() => createFargateExecutor({ ...world().settings(), taskCipher: undefined as never })).toThrow(/cipher and taskCipher are set together/);
});

test(
  `inspects are coalesced: 1,000 live tasks cost ${1_000 / describeTasksLimit} DescribeTasks calls a pass, concurrent or one after another`,
  { timeout: 120_000 },
  async () => {
    // Tasks that stay PROVISIONING (as they do while Fargate finds capacity) are live without a container each.
    const { EcsTestEndpoint } = await import('../testing/ecs-endpoint.ts');
    const ecs = await EcsTestEndpoint.start({
      taskDefinitions: { 'cairn-worker': { rootfs: '/nonexistent', entrypoint: ['/bin/true'] } },
      provisioningMs: 600_000,
    });
    try {
      const executor = world().executor({ client: ecs.client() });
      const handles: ExecutionHandle[] = [];
      for (let batch = 0; batch < 10; batch++) {
        handles.push(
          ...(await Promise.all(Array.from({ length: 100 }, (_, index) => executor.start(world().task(executionId(`batch-${batch}-${index}`), succeed))))),
        );
      }
      expect(new Set(handles.map((handle) => handle['taskArn'])).size).toBe(1_000);
      const before = ecs.count('DescribeTasks');
      const statuses = await Promise.all(handles.map((handle) => executor.inspect(handle)));
      expect(ecs.count('DescribeTasks') - before).toBeLessThanOrEqual(10);
      expect(statuses.every((status) => status.state === 'pending')).toBe(true);
      const sizes = ecs.requests
        .slice(before)
        .filter((request) => request.operation === 'DescribeTasks')
        .map((request) => (request.body['tasks'] as unknown[]).length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(100);

      // The engine's reconcile inspects one attempt after another: the first lookup of a pass
      // describes every live task the executor knows, and the answers serve the rest of the pass.
      const sequentialPass = async (inspector: typeof executor) => {
        await new Promise((resolve) => setTimeout(resolve, liveAnswerFreshnessMs + 50));
        const start = ecs.count('DescribeTasks');
        for (const handle of handles) expect((await inspector.inspect(handle)).state).toBe('pending');
        return ecs.count('DescribeTasks') - start;
      };
      expect(await sequentialPass(executor)).toBeLessThanOrEqual(10);
      // An executor that knows none of them (a restart) still coalesces a concurrent pass.
      const fresh = world().executor({ client: ecs.client() });
      const beforeFresh = ecs.count('DescribeTasks');
      await Promise.all(handles.map((handle) => fresh.inspect(handle)));
      expect(ecs.count('DescribeTasks') - beforeFresh).toBeLessThanOrEqual(10);
      // Inspected one after another, it learns them in one pass; from the next, 10 calls again.
      const restarted = world().executor({ client: ecs.client() });
      expect(await sequentialPass(restarted)).toBeGreaterThan(10);
      expect(await sequentialPass(restarted)).toBeLessThanOrEqual(10);
    } finally {
      await ecs.stop();
    }
  },
);

test('the task writes with the storage encryption of the engine (SSE-KMS here), told through its environment', async () => {
  const { HeadObjectCommand } = await import('@aws-sdk/client-s3');
  const { radosgwClient, radosgwConnection } = await import('@cairn/s3/testing');
  const settings = world().settings();
  const encryption = { kind: 'sse-kms' as const, keyId: radosgwConnection().kmsKeyId };
  const executor = world().executor({ taskStorage: { ...settings.taskStorage, encryption } });
  const id = executionId('sse');
  const handle = await executor.start(world().task(id, succeed));
  expect((await waitForExit(executor, handle)).outcome).toBe('succeeded');
  expect(
    world()
      .ecs.tasks()
      .find((task) => task.taskArn === handle['taskArn'])!.environment['CAIRN_STORAGE_ENCRYPTION'],
  ).toBe(`sse-kms:${encryption.keyId}`);
  const head = await radosgwClient().send(new HeadObjectCommand({ Bucket: world().bucket, Key: resultKey(id) }));
  expect(head.ServerSideEncryption).toBe('aws:kms');
});
