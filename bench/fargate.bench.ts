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
import { atLeast, atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

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
        handles.push(...(await Promise.all(Array.from({ length: Math.min(parallel, from + count - start) }, (_, offset) => executor.start(task(start + offset))))));
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

    log('  reconcile: one pass over 1,000 live tasks');
    await Promise.all(handles.map((handle) => executor.inspect(handle)));
    const passes = 10;
    const before = endpoint.count('DescribeTasks');
    const passMs = await timeMilliseconds(async () => {
      for (let pass = 0; pass < passes; pass++) {
        const statuses = await Promise.all(handles.map((handle) => executor.inspect(handle)));
        if (statuses.some((status) => status.state !== 'pending')) throw new Error('a benchmark task left PROVISIONING');
      }
    });
    const callsPerPass = (endpoint.count('DescribeTasks') - before) / passes;
    const round3 = (value: number) => Math.round(value * 1000) / 1000;
    return [
      atLeast('fargate.start.tasks-per-s', startsPerSecond, 'tasks/s', 100),
      atMost('fargate.reconcile-1000-live.ms-per-task', round3(passMs / passes / handles.length), 'ms', 0.5),
      atMost('fargate.reconcile-1000-live.describe-calls-per-pass', callsPerPass, 'calls', 10),
      recorded('fargate.reconcile-1000-live.pass-ms', Math.round(passMs / passes), 'ms'),
    ];
  } finally {
    await endpoint.stop();
  }
}
