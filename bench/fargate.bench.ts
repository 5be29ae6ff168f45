// The Fargate executor's control plane against the ECS test endpoint on loopback (the real SDK
// client, JSON 1.1 over HTTP, no network latency, so these are floors; AWS adds a round trip per
// call): tasks started per second, and what one reconcile pass costs per live task when 1,000 are
// live. The tasks stay PROVISIONING (as they do while Fargate finds capacity), so no container
// runs: this measures the executor and ECS's API, not bubblewrap. ECS's own limit is the goal's
// yardstick: RunTask launches about 20 tasks per second per account (sustained), so the control
// plane must start several times that.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { ExecutionHandle, PublicKeyRecord } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createFargateExecutor } from '@cairn/fargate';
import { EcsTestEndpoint } from '@cairn/fargate/testing';
import { atLeast, atMost, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

export default async function fargateBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const endpoint = await EcsTestEndpoint.start({
    taskDefinitions: { 'cairn-worker': { rootfs: '/nonexistent', entrypoint: ['/bin/true'] } },
    provisioningMs: 3_600_000,
  });
  try {
    const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
    const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };
    const executor = createFargateExecutor({
      client: endpoint.client(),
      cluster: 'default',
      taskDefinition: 'cairn-worker',
      subnets: ['subnet-0bench'],
      storage: createInMemoryStorageProvider(),
      taskStorage: { bucket: 'cairn-bench', region: 'us-east-1' },
      trustedKeys: [key],
    });
    const task = (index: number) => ({ executionId: `bench/item-${index}/1`, manifestDigest: `sha256:${randomBytes(32).toString('hex')}` as const });
    const startAll = async (from: number, count: number, parallel: number) => {
      const handles: ExecutionHandle[] = [];
      for (let start = from; start < from + count; start += parallel) {
        handles.push(
          ...(await Promise.all(Array.from({ length: Math.min(parallel, from + count - start) }, (_, offset) => executor.start(task(start + offset))))),
        );
      }
      return handles;
    };

    log('  RunTask: tasks started per second (16 starts in flight)');
    await startAll(0, 100, 16);
    let handles: ExecutionHandle[] = [];
    const startMs = await timeMilliseconds(async () => {
      handles = await startAll(100, 900, 16);
    });
    handles = [...(await startAll(0, 100, 16)), ...handles];
    const startsPerSecond = Math.round(900 / (startMs / 1_000));

    log('  reconcile: passes over 1,000 live tasks, concurrent and one after another (as the engine)');
    await Promise.all(handles.map((handle) => executor.inspect(handle)));
    // Each pass starts once the executor's last answers are over a second old, as a reconcile pass
    // does (the engine reconciles every few seconds): every pass asks ECS again.
    const pass = async (inspectAll: () => Promise<unknown>) => {
      const passes = 5;
      let milliseconds = 0;
      const before = endpoint.count('DescribeTasks');
      for (let round = 0; round < passes; round++) {
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        milliseconds += await timeMilliseconds(inspectAll);
      }
      return { msPerPass: milliseconds / passes, callsPerPass: (endpoint.count('DescribeTasks') - before) / passes };
    };
    const pending = (statuses: { state: string }[]) => {
      if (statuses.some((status) => status.state !== 'pending')) throw new Error('a benchmark task left PROVISIONING');
    };
    const concurrent = await pass(async () => pending(await Promise.all(handles.map((handle) => executor.inspect(handle)))));
    const sequential = await pass(async () => {
      const statuses = [];
      for (const handle of handles) statuses.push(await executor.inspect(handle));
      pending(statuses);
    });
    const round3 = (value: number) => Math.round(value * 1000) / 1000;
    return [
      atLeast('fargate.start.tasks-per-s', startsPerSecond, 'tasks/s', 100),
      atMost('fargate.reconcile-1000-live.concurrent.ms-per-task', round3(concurrent.msPerPass / handles.length), 'ms', 0.5),
      atMost('fargate.reconcile-1000-live.concurrent.describe-calls-per-pass', concurrent.callsPerPass, 'calls', 10),
      atMost('fargate.reconcile-1000-live.sequential.ms-per-task', round3(sequential.msPerPass / handles.length), 'ms', 0.5),
      atMost('fargate.reconcile-1000-live.sequential.describe-calls-per-pass', sequential.callsPerPass, 'calls', 10),
    ];
  } finally {
    await endpoint.stop();
  }
}
