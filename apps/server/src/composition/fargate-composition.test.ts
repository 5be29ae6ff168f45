// A server composed over the Fargate executor: the config's `executor: { kind: fargate }` becomes
// a FargateExecutor whose tasks (the ECS test endpoint on loopback, running the built cairn-worker
// under bubblewrap) find the server's own S3 storage (the test radosgw), open their secrets with
// the server's KMS key (the KMS test endpoint), and trust the server's signing key, all derived
// from the server's config and nothing else. `cairn doctor` asks ECS about the cluster.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskEnvironmentNames } from '@cairn/fargate';
import { EcsTestEndpoint, workerTestRootfs, type WorkerTestRootfs } from '@cairn/fargate/testing';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { afterAll, afterEach, beforeAll, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { diagnoseServer } from '../cli/diagnose-server.ts';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

let kms: KmsTestEndpoint;
let ecs: EcsTestEndpoint;
let rootfs: WorkerTestRootfs;
let bucket: string;
const directories: string[] = [];
const compositions: ServerComposition[] = [];
beforeAll(async () => {
  kms = await KmsTestEndpoint.start();
  bucket = await createTestBucket(radosgwClient());
  // The task's credentials, as its task role would give them (the KMS endpoint checks only that requests are signed).
  rootfs = workerTestRootfs({ environment: radosgwEnvironment() });
  ecs = await EcsTestEndpoint.start({ taskDefinitions: { 'cairn-worker': rootfs.definition }, clusters: ['cairn'] });
  // The server's: the SDK's default chain finds them, as a server finds its role's.
  for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
});
afterEach(async () => {
  for (const composition of compositions.splice(0)) await composition.close();
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await ecs.stop();
  await kms.stop();
  rootfs.remove();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

/** `cairn init` in a fresh folder, then S3 storage, a KMS cipher and the fargate executor (with `executor` over the defaults). */
async function serverOnFargate(executor: Record<string, unknown> = {}): Promise<{ directory: string; cipherKey: string }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-fargate-'));
  directories.push(directory);
  await initServer(directory);
  const { endpoint, region } = radosgwConnection();
  const cipherKey = kms.createKey('SYMMETRIC_DEFAULT').keyId;
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    file,
    stringifyYaml({
      ...config,
      storage: { kind: 's3', bucket, prefix: `server-${directories.length}/`, region, endpoint, forcePathStyle: true },
      cipher: { kind: 'kms', keyId: cipherKey, endpoint: kms.url, region: 'us-east-1' },
      executor: {
        kind: 'fargate',
        cluster: 'cairn',
        taskDefinition: 'cairn-worker',
        subnets: ['subnet-0cairn'],
        securityGroups: ['sg-0cairn'],
        endpoint: ecs.url,
        region: 'us-east-1',
        ...executor,
      },
    }),
  );
  return { directory, cipherKey };
}

test(
  "executor kind fargate: each item is an ECS task of the configured cluster and task definition, which finds the server's S3 storage, opens its secret with the server's KMS key and trusts the server's signing key",
  { timeout: 120_000 },
  async () => {
    const { directory, cipherKey } = await serverOnFargate();
    const loaded = loadServerConfig({ directory, env: {} });
    const composition = await composeServer(loaded);
    compositions.push(composition);
    const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
    const secret = 'fargate-composed-secret-value';
    await composition.engine.setSecret('API_KEY', secret, actor);
    composition.engine.start();
    const runsBefore = ecs.count('RunTask');
    const { runId } = composition.engine.submit(
      {
        version: 1,
        name: 'on-fargate',
        items: [
          {
            id: 'use-secret',
            secrets: ['API_KEY'],
            runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$API_KEY" = ${secret} && echo done > out.txt`] },
          },
          // The configured executor is named by its kind: an item may name it.
          { id: 'named', executor: 'fargate', runtime: { kind: 'command', argv: ['/bin/true'] } },
        ],
      },
      { actor },
    );
    const run = await composition.engine.waitForRun(runId);
    expect(run.state, JSON.stringify(ecs.tasks().map((task) => task.output))).toBe('succeeded');
    const runTasks = ecs.requests.filter((request) => request.operation === 'RunTask').slice(runsBefore);
    expect(runTasks).toHaveLength(2);
    const withSecret = runTasks
      .map(
        (request) =>
          request.body as {
            cluster: string;
            taskDefinition: string;
            networkConfiguration: unknown;
            overrides: { containerOverrides: { name: string; environment: { name: string; value: string }[] }[] };
          },
      )
      .find((body) => body.overrides.containerOverrides[0]!.environment.some((pair) => pair.name === taskEnvironmentNames.sealedSecrets))!;
    expect(withSecret).toMatchObject({
      cluster: 'cairn',
      taskDefinition: 'cairn-worker',
      launchType: 'FARGATE',
      networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-0cairn'], securityGroups: ['sg-0cairn'], assignPublicIp: 'DISABLED' } },
    });
    const override = withSecret.overrides.containerOverrides[0]!;
    expect(override.name).toBe('cairn-worker');
    const environment = Object.fromEntries(override.environment.map((pair) => [pair.name, pair.value]));
    // Derived from the server's storage and cipher config, and its signing key.
    const { endpoint, region } = radosgwConnection();
    expect(environment).toMatchObject({
      [taskEnvironmentNames.storageBucket]: bucket,
      [taskEnvironmentNames.storagePrefix]: loaded.config.storage.kind === 's3' ? loaded.config.storage.prefix : '',
      [taskEnvironmentNames.storageEndpoint]: endpoint,
      [taskEnvironmentNames.storageRegion]: region,
      [taskEnvironmentNames.storageForcePathStyle]: 'true',
      [taskEnvironmentNames.cipherKeyId]: cipherKey,
      [taskEnvironmentNames.cipherEndpoint]: kms.url,
    });
    expect(JSON.parse(environment[taskEnvironmentNames.trustedKeys]!)).toEqual([composition.signingKey]);
    // The secret went through KMS into storage, never into a request to ECS.
    expect(ecs.requests.map((request) => request.raw).join('\n')).not.toContain(secret);
    expect((await composition.engine.exportBundle(runId)).manifests).toHaveLength(2);
  },
);

test(
  'cairn doctor asks ECS about the cluster: a finding that it answers, or what to fix for a missing cluster and refused credentials',
  { timeout: 60_000 },
  async () => {
    const finding = async (executor: Record<string, unknown> = {}) => {
      const { directory } = await serverOnFargate(executor);
      const findings = await diagnoseServer(loadServerConfig({ directory, env: {} }));
      return { findings, ecs: findings.find((candidate) => candidate.check === 'executor fargate') };
    };
    const healthy = await finding();
    expect(healthy.ecs).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/ECS answers for cluster cairn in us-east-1 at http:\/\/127\.0\.0\.1:\d+ \(DescribeTasks/),
    });
    // No local sandbox is checked for tasks that run in ECS.
    expect(healthy.findings.find((candidate) => candidate.check === 'sandbox')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('container is its sandbox'),
    });
    expect(healthy.findings.some((candidate) => candidate.check === 'bubblewrap')).toBe(false);

    const missing = await finding({ cluster: 'no-such-cluster' });
    expect(missing.ecs).toMatchObject({
      ok: false,
      detail: expect.stringContaining('ClusterNotFoundException'),
      fix: expect.stringMatching(/executor\.cluster/),
    });

    // Last in this file: the endpoint refuses DescribeTasks from now on.
    ecs.deny('DescribeTasks');
    const denied = await finding();
    expect(denied.ecs).toMatchObject({ ok: false, detail: expect.stringContaining('AccessDeniedException'), fix: expect.stringMatching(/ecs:DescribeTasks/) });
  },
);

test(
  'executor kind fargate refuses an allow-listed network at submit (a task shares its network with its worker), and cairn doctor says so',
  { timeout: 60_000 },
  async () => {
    const { directory } = await serverOnFargate({ network: { allow: ['registry.npmjs.org'] } });
    const loaded = loadServerConfig({ directory, env: {} });
    const composition = await composeServer(loaded);
    compositions.push(composition);
    const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
    const spec = {
      version: 1,
      name: 'egress',
      items: [{ id: 'fetch', runtime: { kind: 'command', argv: ['true'] }, network: { allow: ['registry.npmjs.org'] } }],
    } as const;
    let refused: unknown;
    try {
      composition.engine.submit(structuredClone(spec) as never, { actor });
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].network' });
    expect((refused as Error).message).toContain('which executor "fargate" cannot enforce');
    expect(composition.engine.runs()).toEqual({ runs: [] });
    // network: true runs there as before: only an allow-list is refused.
    expect(composition.engine.submit({ ...structuredClone(spec), items: [{ ...spec.items[0], network: true }] } as never, { actor }).created).toBe(true);
    const findings = await diagnoseServer(loaded);
    expect(findings.find((finding) => finding.check === 'network allow-lists (fargate)')).toMatchObject({
      ok: true,
      detail: expect.stringContaining('not enforced on this executor (a Fargate task shares its network with its worker)'),
    });
  },
);
