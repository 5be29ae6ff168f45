// A server on Fargate with the model gateway on (ADR 0033): the real Claude Code CLI runs in an ECS
// task (the test endpoint's container, running the built cairn-worker) and reaches its model only
// through the worker's forwarder on the task's loopback and the server's gateway at
// gateway.publicUrl, an address of this machine that is not loopback, as a server's VPC address is
// not. The task got the attempt credential sealed: it is in no RunTask request, no process
// environment of the task, no log. The provider key stays in the server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { taskEnvironmentNames } from '@cairn/fargate';
import { EcsTestEndpoint, workerTestRootfs, type WorkerTestRootfs } from '@cairn/fargate/testing';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { initServer } from '../cli/init-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { claudeCodeCommand } from '../capabilities/gateway/agent-clis.test-support.ts';
import { blobText, modelCallsOf } from '../capabilities/gateway/gateway-server.test-support.ts';
import { startScriptedModels, type ScriptedModels } from '../capabilities/gateway/scripted-models.test-support.ts';
import { composeServer } from './compose-server.ts';
import type { ServerComposition } from './server-composition.ts';

const model = 'claude-sonnet-4-5';
const providerKey = 'sk-ant-provider-fargate-5d21b7';
// What a gateway credential looks like (`cgw1.<claims>.<mac>`, the claims base64url JSON).
const credentialShape = /cgw1\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+/;

let kms: KmsTestEndpoint;
let ecs: EcsTestEndpoint;
let rootfs: WorkerTestRootfs;
let models: ScriptedModels;
let composition: ServerComposition | undefined;
let directory: string;

/** This machine's first address that is not loopback: where the gateway listens, as on a server's VPC interface. */
function vpcAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((candidate) => candidate !== undefined && candidate.family === 'IPv4' && !candidate.internal)?.address;
  if (address === undefined) throw new Error('this machine has no IPv4 address besides loopback: the gateway needs one that is not loopback, as in a VPC');
  return address;
}

async function freePortOn(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, host, resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  kms = await KmsTestEndpoint.start();
  const bucket = await createTestBucket(radosgwClient());
  // The real CLI, bound into the task's root filesystem where the item's PATH finds it (the image has no agent CLI).
  const [binary] = claudeCodeCommand();
  const base = workerTestRootfs({ environment: radosgwEnvironment(), files: { '/opt/agent/bin/claude': { content: '', mode: 0o755 } } });
  rootfs = { ...base, definition: { ...base.definition, binds: [...(base.definition.binds ?? []), { source: binary!, target: '/opt/agent/bin/claude' }] } };
  ecs = await EcsTestEndpoint.start({ taskDefinitions: { 'cairn-worker': rootfs.definition }, clusters: ['cairn'] });
  for (const [name, value] of Object.entries(radosgwEnvironment())) vi.stubEnv(name, value);
  models = await startScriptedModels({
    anthropic: [
      { toolCalls: [{ name: 'Bash', input: { command: "printf 'written in a Fargate task\\n' > HELLO.md" } }], usage: { inputTokens: 900, outputTokens: 60 } },
      { text: 'Wrote HELLO.md.', usage: { inputTokens: 1_000, outputTokens: 12 } },
    ],
  });

  directory = mkdtempSync(join(tmpdir(), 'cairn-fargate-gateway-'));
  await initServer(directory);
  const { endpoint, region } = radosgwConnection();
  const host = vpcAddress();
  const port = await freePortOn(host);
  const file = join(directory, 'cairn.config.yaml');
  writeFileSync(
    file,
    stringifyYaml({
      ...(parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>),
      storage: { kind: 's3', bucket, prefix: 'server/', region, endpoint, forcePathStyle: true },
      cipher: { kind: 'kms', keyId: kms.createKey('SYMMETRIC_DEFAULT').keyId, endpoint: kms.url, region: 'us-east-1' },
      executor: {
        kind: 'fargate',
        cluster: 'cairn',
        taskDefinition: 'cairn-worker',
        subnets: ['subnet-0cairn'],
        securityGroups: ['sg-0cairn'],
        endpoint: ecs.url,
        region: 'us-east-1',
      },
      runtimes: { 'claude-code': {} },
      gateway: {
        enabled: true,
        host,
        port,
        publicUrl: `http://${host}:${port}`,
        providers: { anthropic: { baseUrl: models.baseUrls.anthropic, apiKeySecret: 'PROVIDER_KEY' } },
      },
    }),
  );
});

afterAll(async () => {
  await composition?.close();
  vi.unstubAllEnvs();
  await models?.close();
  await ecs?.stop();
  await kms?.stop();
  rootfs?.remove();
  rmSync(directory, { recursive: true, force: true });
});

test(
  'claude-code in a Fargate task writes a file through the gateway at gateway.publicUrl; its calls are recorded; no credential or provider key is in RunTask, the task or its logs',
  { timeout: 120_000 },
  async () => {
    const loaded = loadServerConfig({ directory, env: {} });
    composition = await composeServer(loaded);
    const actor = { kind: 'user', id: 'tester', via: 'engine' } as const;
    await composition.engine.setSecret('PROVIDER_KEY', providerKey, actor);
    composition.engine.start();
    const { runId } = composition.engine.submit(
      {
        version: 1,
        name: 'agent-on-fargate',
        items: [
          {
            id: 'write',
            runtime: { kind: 'agent', adapter: 'claude-code', model, prompt: 'Write HELLO.md.' },
            // The image's PATH has no agent CLI: the item's puts the bound one first.
            env: { PATH: '/opt/agent/bin:/opt/node/bin:/usr/local/bin:/usr/bin:/bin' },
          },
        ],
      },
      { actor },
    );
    const run = await composition.engine.waitForRun(runId);
    const artifacts = composition.engine.artifacts(runId, 'write')!;
    const stdout = await blobText(composition, artifacts['stdout']);
    const stderr = await blobText(composition, artifacts['stderr']);
    const tasks = ecs.tasks();
    expect(run.state, `${JSON.stringify(composition.engine.attempts(runId, 'write'))}\n${stderr}\n${tasks.map((task) => task.output).join('\n')}`).toBe(
      'succeeded',
    );
    const patch = await blobText(composition, artifacts['patch']);
    expect(patch.match(/^diff --git .*$/gm)).toEqual(['diff --git a/HELLO.md b/HELLO.md']);
    expect(patch).toContain('+written in a Fargate task');

    // Both calls reached the provider through the gateway, with the server's key; both are recorded.
    expect(models.turns('anthropic').map((request) => request.headers['x-api-key'])).toEqual([providerKey, providerKey]);
    expect(modelCallsOf(composition, runId).map((entry) => [entry.outcome, entry.data['inputTokens'], entry.data['outputTokens']])).toEqual([
      ['success', 900, 60],
      ['success', 1_000, 12],
    ]);

    // The task was told where the gateway is, not how to get in.
    const runTask = ecs.requests.filter((request) => request.operation === 'RunTask');
    expect(runTask).toHaveLength(1);
    const [task] = tasks;
    expect(task!.environment[taskEnvironmentNames.gatewayUrl]).toBe(loaded.config.gateway.publicUrl);
    for (const [place, content] of Object.entries({
      'the RunTask request': runTask[0]!.raw,
      "the task's environment": JSON.stringify(task!.environment),
      "the task's log": task!.output,
      "the attempt's stdout (the CLI's stream-json)": stdout,
      "the attempt's stderr": stderr,
      'the patch': patch,
    })) {
      expect(content, place).not.toMatch(credentialShape);
      expect(content, place).not.toContain(providerKey);
    }
  },
);
