// The server on AWS, as a user runs it, end to end and in CI: the built `dist/cli.js`
// (rebuild first: `pnpm --filter @cairn/fargate build && pnpm --filter @cairn/server build`),
// `cairn init`, a config whose executor is Fargate, storage an S3 bucket (the test radosgw), the
// anchor an S3 Object Lock bucket, signer and cipher KMS keys (the KMS test endpoint); credentials
// only in the AWS_* environment of the spawned processes. The ECS test endpoint runs in this test
// process, and its task definition is the REAL worker image: the root filesystem that
// build-image.sh unpacked from the OCI image it built from the current `dist/cairn-worker.js`
// (this project's global setups), started as the image config says (entrypoint, user, env,
// working directory) under bubblewrap, plus the credentials a task role would give.
//
// Then: `cairn demo --server` through it (patches, the approval, the reused pure check, a bundle
// that verifies tamper-evident with the KMS key trusted and the anchor read live); and a kill -9
// of the server while its tasks run: they keep running (they belong to ECS, here the test
// process), the restarted server re-attaches them by handle, and every item completes exactly once.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EcsTestEndpoint, type TestTask } from '@cairn/fargate/testing';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { createTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

/** What `workerImageDefinition()` (packages/fargate/image) answers: the built image, as a runner starts it. */
interface WorkerImageDefinition {
  readonly rootfs: string;
  readonly entrypoint: readonly string[];
  readonly user: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly workingDirectory: string;
  readonly digest: string;
}

// The image's helpers live beside its build script, outside any package's sources: loaded by path.
const imagePaths = new URL('../../../../packages/fargate/image/worker-image-paths.ts', import.meta.url);

let ecs: EcsTestEndpoint;
let kms: KmsTestEndpoint;
let image: WorkerImageDefinition;
beforeAll(async () => {
  const { workerImageDefinition } = (await import(/* @vite-ignore */ pathToFileURL(imagePaths.pathname).href)) as {
    workerImageDefinition: () => WorkerImageDefinition;
  };
  image = workerImageDefinition();
  if (!existsSync(join(image.rootfs, 'opt'))) throw new Error(`the worker image is not unpacked at ${image.rootfs}: the global setup builds it`);
  // The image holds the real worker, bundled from the current sources (not build-image.sh's stand-in).
  const bundled = readFileSync(new URL('../../../../packages/fargate/dist/cairn-worker.js', import.meta.url));
  if (!readFileSync(join(image.rootfs, image.entrypoint.at(-1)!)).equals(bundled))
    throw new Error(
      `the worker image at ${image.rootfs} does not hold packages/fargate/dist/cairn-worker.js: rebuild it (bash packages/fargate/image/build-image.sh)`,
    );
  kms = await KmsTestEndpoint.start();
  ecs = await EcsTestEndpoint.start({
    clusters: ['cairn'],
    taskDefinitions: {
      'cairn-worker': {
        rootfs: image.rootfs,
        entrypoint: image.entrypoint,
        user: image.user,
        workingDirectory: image.workingDirectory,
        // The image's environment, then what the task role gives a real task: credentials for S3 and KMS.
        environment: { ...image.environment, ...radosgwEnvironment() },
      },
    },
  });
});
afterAll(async () => {
  await ecs?.stop();
  await kms?.stop();
});

const { cairn, initialised, serve } = useBuiltServer(radosgwEnvironment);

/**
 * `cairn init` in a fresh folder, its config switched to AWS: S3 storage, an Object Lock anchor,
 * KMS signer and cipher, the Fargate executor on the ECS test endpoint. Answers the KMS key's id.
 */
async function initialisedOnAws(): Promise<{ directory: string; token: string; kmsKeyId: string }> {
  const client = radosgwClient();
  const storageBucket = await createTestBucket(client);
  const anchorBucket = await createTestBucket(client, { objectLock: true });
  const signing = kms.createKey('ECC_NIST_P256');
  const encryption = kms.createKey('SYMMETRIC_DEFAULT');
  const { directory, token } = await initialised();
  const { endpoint, region } = radosgwConnection();
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    file,
    stringifyYaml({
      ...config,
      storage: { kind: 's3', bucket: storageBucket, prefix: 'cairn/', region, endpoint, forcePathStyle: true },
      anchors: [{ kind: 's3-object-lock', bucket: anchorBucket, prefix: 'checkpoints/', region, endpoint, forcePathStyle: true, retentionDays: 1 }],
      signer: { kind: 'kms', keyId: signing.keyId, endpoint: kms.url, region: 'us-east-1' },
      cipher: { kind: 'kms', keyId: encryption.keyId, endpoint: kms.url, region: 'us-east-1' },
      executor: {
        kind: 'fargate',
        cluster: 'cairn',
        taskDefinition: 'cairn-worker',
        subnets: ['subnet-0cairn0e2e'],
        securityGroups: ['sg-0cairn0e2e'],
        endpoint: ecs.url,
        region: 'us-east-1',
      },
    }),
  );
  expect(readFileSync(file, 'utf8')).not.toMatch(/accessKeyId|secretAccessKey|AWS_/);
  const keyId = await cairn(directory, ['--json', 'key', 'id']);
  expect(keyId.status, keyId.stderr).toBe(0);
  return { directory, token, kmsKeyId: (JSON.parse(keyId.stdout) as { keyId: string }).keyId };
}

/** The execution id a task was started for (the executor's override names it). */
const executionOf = (task: TestTask) => task.environment['CAIRN_EXECUTION_ID'] ?? '';

test(
  'cairn serve on Fargate, S3, an Object Lock anchor and KMS runs the demo: its items are tasks of the real worker image; patches, the approval, the reused pure check; the bundle verifies tamper-evident',
  { timeout: 300_000 },
  async () => {
    const { directory, token, kmsKeyId } = await initialisedOnAws();
    const doctor = await cairn(directory, ['--json', 'doctor']);
    const findings = JSON.parse(doctor.stdout) as { check: string; ok: boolean; detail: string }[];
    expect(
      findings.find((finding) => finding.check === 'executor fargate'),
      doctor.stdout,
    ).toMatchObject({ ok: true });

    const { base } = await serve(directory);
    const tasksBefore = ecs.tasks().length;
    const demo = await cairn(directory, ['--json', 'demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    const result = JSON.parse(demo.stdout) as {
      bundle: string;
      runId: string;
      sandbox: string;
      patches: { itemId: string; files: unknown[] }[];
      reusedItem: { itemId: string } | null;
    };
    expect(result).toMatchObject({
      sandbox: 'container',
      state: 'succeeded',
      againState: 'succeeded',
      trustedKeyId: kmsKeyId,
      verify: { valid: true, claim: 'tamper-evident' },
    });
    expect(result.patches.map((patch) => patch.itemId).sort()).toEqual(['edit-alpha', 'edit-beta', 'rename-gamma', 'tidy-readme']);
    expect(result.patches.every((patch) => patch.files.length > 0)).toBe(true);
    expect(result.reusedItem).toMatchObject({ itemId: 'verify' });

    // Every item of both runs was a task of the image, and each task's container ran and exited 0:
    // five items the first time, four the second (the pure check reused, not run).
    const tasks = ecs.tasks().slice(tasksBefore);
    expect(tasks).toHaveLength(9);
    for (const task of tasks) expect(task, task.output).toMatchObject({ lastStatus: 'STOPPED', containerStarted: true, exitCode: 0 });
    expect(new Set(tasks.filter((task) => executionOf(task).startsWith(`${result.runId}/`)).map(executionOf)).size).toBe(5);

    // The bundle outside the demo: the KMS key pinned, the Object Lock anchor read live from the bucket.
    const verified = await cairn(directory, ['verify', result.bundle, '--trusted-key', kmsKeyId, '--online']);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^valid: true, claim: tamper-evident, verdict: verified/);
    expect(verified.stdout).toMatch(/pass\s+anchor\s+.*s3-object-lock:s3:\/\/.*\(external-immutable\)/);
    expect(verified.stdout).toContain(`signed by ${kmsKeyId}`);
  },
);

test(
  'kill -9 of cairn serve while its Fargate tasks run: the tasks keep running, the restarted server re-attaches them by handle, every item completes exactly once; no secret in any RunTask request; the log verifies',
  { timeout: 300_000 },
  async () => {
    const { directory, token } = await initialisedOnAws();
    const first = await serve(directory);
    const secret = 'ghp_fargate-e2e-secret-marker-5d1c';
    const set = await cairn(directory, ['secret', 'set', 'DEPLOY_TOKEN', '--server', first.base], { CAIRN_TOKEN: token }, secret);
    expect(set.status, set.stdout + set.stderr).toBe(0);

    const workspace = join(directory, 'project');
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'README.md'), '# project\n');
    const itemIds = ['one', 'two', 'three', 'four', 'five', 'six'];
    const spec = join(directory, 'run.yaml');
    // Long enough to outlive the server's kill and restart; half of them need the secret.
    const script = (itemId: string, index: number) =>
      index % 2 === 0 ? `test "$DEPLOY_TOKEN" = '${secret}' && sleep 12 && echo ${itemId} > ${itemId}.txt` : `sleep 12 && echo ${itemId} > ${itemId}.txt`;
    writeFileSync(
      spec,
      stringifyYaml({
        version: 1,
        name: 'outlives-its-server',
        concurrency: itemIds.length,
        items: itemIds.map((id, index) => ({
          id,
          ...(index % 2 === 0 ? { secrets: ['DEPLOY_TOKEN'] } : {}),
          runtime: { kind: 'command', argv: ['/bin/sh', '-c', script(id, index)] },
        })),
      }),
    );
    const submitted = await cairn(directory, ['submit', '-q', spec, '--workspace', workspace, '--server', first.base], { CAIRN_TOKEN: token });
    expect(submitted.status, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    const ofRun = () => ecs.tasks().filter((task) => executionOf(task).startsWith(`${runId}/`));

    // Every item's task is running in ECS: then the server dies without a word.
    const deadline = Date.now() + 120_000;
    while (ofRun().filter((task) => task.lastStatus === 'RUNNING').length < itemIds.length) {
      if (Date.now() > deadline)
        throw new Error(`the tasks did not all start: ${JSON.stringify(ofRun().map((task) => [executionOf(task), task.lastStatus, task.output]))}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const exited = new Promise((resolve) => first.server.once('exit', resolve));
    first.server.kill('SIGKILL');
    await exited;
    // The tasks did not go with it: they belong to ECS.
    expect(ofRun().map((task) => task.lastStatus)).toEqual(itemIds.map(() => 'RUNNING'));
    const started = new Map(ofRun().map((task) => [task.taskArn, executionOf(task)]));

    const second = await serve(directory);
    // Still running when the new server came up: it re-attaches live tasks, not only their results.
    expect(ofRun().filter((task) => task.lastStatus === 'RUNNING').length).toBeGreaterThan(0);
    const watched = await cairn(directory, ['watch', runId, '--server', second.base], { CAIRN_TOKEN: token });
    expect(watched.status, watched.stdout + watched.stderr).toBe(0);
    const status = await cairn(directory, ['--json', 'status', runId, '--server', second.base], { CAIRN_TOKEN: token });
    expect(JSON.parse(status.stdout), status.stdout).toMatchObject({ run: { state: 'succeeded', itemsFinished: itemIds.length, itemsFailed: 0 } });

    // Re-attached, not started again: the same six tasks, each run once to exit 0.
    const tasks = ofRun();
    expect(new Map(tasks.map((task) => [task.taskArn, executionOf(task)]))).toEqual(started);
    expect(new Set(tasks.map(executionOf))).toEqual(new Set(itemIds.map((id) => `${runId}/${id}/1`)));
    for (const task of tasks) expect(task, task.output).toMatchObject({ lastStatus: 'STOPPED', containerStarted: true, exitCode: 0 });
    for (const id of itemIds) {
      const patch = await cairn(directory, ['patch', runId, id, '--server', second.base], { CAIRN_TOKEN: token });
      expect(patch.stdout, patch.stderr).toContain(`+${id}`);
    }

    // The audit log: one dispatch and one completion per item, no second dispatch of a completed attempt.
    const exported = await cairn(directory, ['audit', 'export', '--run', runId, '--server', second.base], { CAIRN_TOKEN: token });
    expect(exported.status, exported.stderr).toBe(0);
    const entries = exported.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { entry: { action: string; entity: { id: string } } }).entry);
    const perAttempt = (action: string) =>
      entries
        .filter((entry) => entry.action === action)
        .map((entry) => entry.entity.id)
        .sort();
    const attempts = itemIds.map((id) => `${runId}/${id}/1`).sort();
    expect(perAttempt('attempt.dispatched')).toEqual(attempts);
    expect(perAttempt('attempt.completed')).toEqual(attempts);
    expect(entries.some((entry) => entry.action === 'attempt.lost')).toBe(false);

    // The secret reached its tasks sealed through KMS in storage, never in a request to ECS.
    const runTasks = ecs.requests.filter((request) => request.operation === 'RunTask');
    expect(runTasks.length).toBeGreaterThanOrEqual(itemIds.length);
    for (const request of runTasks) expect(request.raw).not.toContain(secret);
    expect(JSON.stringify(ecs.tasks().map((task) => task.environment))).not.toContain(secret);

    const log = await cairn(directory, ['audit', 'verify-log', '--online']);
    expect(log.status, log.stdout + log.stderr).toBe(0);
    expect(log.stdout).toContain('valid: true');
  },
);
