// The server on Kubernetes, as a user runs it, end to end: the built `dist/cli.js` (rebuild first:
// `pnpm --filter @cairn/kubernetes build && pnpm --filter @cairn/server build`), `cairn init`, a
// config whose executor is `kind: kubernetes` with a kubeconfig file, storage an S3 bucket (the
// test radosgw), the cipher a KMS key (the KMS test endpoint). The Kubernetes API test endpoint
// runs in this test process (it validates every object against the Kubernetes schemas) and its
// image is the REAL worker image: the root filesystem build-image.sh unpacked from the OCI image it
// built from the current `dist/cairn-worker.js` (the global setups), started as the image config
// says, plus the credentials a pod's own identity (IRSA, Pod Identity) would give it.
//
// Then: `cairn doctor` finds the namespace; a two-item run's items run as pods; the server is
// killed (-9) while both pods run: they keep running (they belong to the cluster, here the test
// process), the restarted server adopts them by handle and each item runs exactly once; patches come
// back; the evidence bundle verifies with `cairn verify`; the secret is in no pod spec, no request
// to the API server and neither server's output.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { podNameOf } from '@cairn/kubernetes';
import { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { createTestBucket, radosgwClient, radosgwEnvironment } from '@cairn/s3/testing';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';
import { writeKubernetesServerConfig } from './kubernetes-server-config.test-support.ts';

/** What `workerImageDefinition()` (packages/fargate/image) answers: the built image, as a runner starts it. */
interface WorkerImageDefinition {
  readonly rootfs: string;
  readonly entrypoint: readonly string[];
  readonly user: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly workingDirectory: string;
}

// The image's helpers live beside its build script, outside any package's sources: loaded by path.
const imagePaths = new URL('../../../../packages/fargate/image/worker-image-paths.ts', import.meta.url);
const workerImage = 'registry.example.com/cairn/cairn-worker:e2e';

let endpoint: KubernetesTestEndpoint;
let kms: KmsTestEndpoint;
beforeAll(async () => {
  const { workerImageDefinition } = (await import(/* @vite-ignore */ pathToFileURL(imagePaths.pathname).href)) as {
    workerImageDefinition: () => WorkerImageDefinition;
  };
  const image = workerImageDefinition();
  if (!existsSync(join(image.rootfs, 'opt'))) throw new Error(`the worker image is not unpacked at ${image.rootfs}: the global setup builds it`);
  kms = await KmsTestEndpoint.start();
  endpoint = await KubernetesTestEndpoint.start({
    images: {
      [workerImage]: {
        rootfs: image.rootfs,
        entrypoint: image.entrypoint,
        user: image.user,
        // The image's environment, then what the pod's own identity gives it: credentials for S3 and KMS.
        environment: { ...image.environment, ...radosgwEnvironment() },
      },
    },
  });
});
afterAll(async () => {
  await endpoint?.stop();
  await kms?.stop();
});

const { cairn, initialised, serve } = useBuiltServer(radosgwEnvironment);

/** Everything a spawned server writes from now on, on stdout and stderr. */
function outputOf(server: ChildProcess): () => string {
  let text = '';
  server.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  server.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

test(
  'cairn serve with executor kind kubernetes: items run as pods of the worker image; kill -9 of the server while they run, the restarted server adopts them and each runs once; patches, a bundle that verifies, no secret in a pod or the log',
  { timeout: 300_000 },
  async () => {
    const storageBucket = await createTestBucket(radosgwClient());
    const encryption = kms.createKey('SYMMETRIC_DEFAULT');
    const { directory, token, keyId } = await initialised();
    const file = writeKubernetesServerConfig(directory, {
      endpoint,
      workerImage,
      storageBucket,
      kms: { url: kms.url, keyId: encryption.keyId },
      executor: { podTemplate: { resources: { limits: { memory: '1Gi' } } } },
    });
    expect(readFileSync(file, 'utf8')).not.toMatch(/accessKeyId|secretAccessKey|AWS_/);

    const doctor = await cairn(directory, ['--json', 'doctor']);
    const findings = JSON.parse(doctor.stdout) as { check: string; ok: boolean; detail: string }[];
    expect(
      findings.find((finding) => finding.check === 'executor kubernetes'),
      doctor.stdout,
    ).toMatchObject({ ok: true, detail: expect.stringContaining(`namespace ${endpoint.namespace}`) });

    const first = await serve(directory);
    const firstOutput = outputOf(first.server);
    const secret = 'ghp_kubernetes-e2e-secret-marker-9c4b';
    const set = await cairn(directory, ['secret', 'set', 'DEPLOY_TOKEN', '--server', first.base], { CAIRN_TOKEN: token }, secret);
    expect(set.status, set.stdout + set.stderr).toBe(0);

    const workspace = join(directory, 'project');
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'README.md'), '# project\n');
    const itemIds = ['one', 'two'];
    const spec = join(directory, 'run.yaml');
    // Long enough to outlive the server's kill and restart; both need the secret.
    writeFileSync(
      spec,
      stringifyYaml({
        version: 1,
        name: 'outlives-its-server',
        concurrency: itemIds.length,
        items: itemIds.map((id) => ({
          id,
          secrets: ['DEPLOY_TOKEN'],
          runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$DEPLOY_TOKEN" = '${secret}' && sleep 10 && echo ${id} > ${id}.txt`] },
        })),
      }),
    );
    const submitted = await cairn(directory, ['submit', '-q', spec, '--workspace', workspace, '--server', first.base], { CAIRN_TOKEN: token });
    expect(submitted.status, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    const podNames = itemIds.map((id) => podNameOf(`${runId}/${id}/1`));
    const phase = (name: string) => (endpoint.object('pods', name) as { status?: { phase?: string } } | undefined)?.status?.phase;
    // As the endpoint last kept it: the executor deletes a pod once it has read its exit.
    const uid = (name: string) => (endpoint.lastSeen('pods', name) as { metadata: { uid: string } }).metadata.uid;

    // Both pods run: then the server dies without a word.
    const startsBefore = endpoint.containerStarts;
    for (const name of podNames) await endpoint.waitForPod(name, () => phase(name) === 'Running', 120_000);
    const exited = new Promise((resolve) => first.server.once('exit', resolve));
    first.server.kill('SIGKILL');
    await exited;
    // The pods did not go with it: they belong to the cluster.
    expect(podNames.map(phase)).toEqual(['Running', 'Running']);
    const uids = podNames.map(uid);

    const second = await serve(directory);
    const secondOutput = outputOf(second.server);
    // Still running when the new server came up: it adopts live pods, not only their results.
    expect(podNames.some((name) => phase(name) === 'Running')).toBe(true);
    const watched = await cairn(directory, ['watch', runId, '--server', second.base], { CAIRN_TOKEN: token });
    expect(watched.status, watched.stdout + watched.stderr).toBe(0);
    const status = await cairn(directory, ['--json', 'status', runId, '--server', second.base], { CAIRN_TOKEN: token });
    expect(JSON.parse(status.stdout), status.stdout + podNames.map((name) => endpoint.output(name)).join('\n')).toMatchObject({
      run: { state: 'succeeded', itemsFinished: itemIds.length, itemsFailed: 0 },
    });

    // Adopted, not started again: the same pods, one container run each, exit 0.
    expect(podNames.map(uid)).toEqual(uids);
    expect(endpoint.containerStarts - startsBefore).toBe(itemIds.length);
    for (const name of podNames) {
      expect(endpoint.lastSeen('pods', name), endpoint.output(name)).toMatchObject({
        status: { phase: 'Succeeded', containerStatuses: [{ state: { terminated: { exitCode: 0 } } }] },
      });
      // Deleted once its exit was read, its Secret and NetworkPolicy with it.
      await vi.waitFor(() => expect([endpoint.wasDeleted('pods', name), endpoint.object('secrets', `${name}-credential`)]).toEqual([true, undefined]), {
        timeout: 10_000,
      });
    }
    for (const id of itemIds) {
      const patch = await cairn(directory, ['patch', runId, id, '--server', second.base], { CAIRN_TOKEN: token });
      expect(patch.stdout, patch.stderr).toContain(`+${id}`);
    }

    // The audit log: one dispatch and one completion per item, nothing lost.
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

    // The evidence bundle, verified outside the server with its signing key pinned.
    const bundleFile = join(directory, 'bundle.json');
    const bundled = await cairn(directory, ['audit', 'bundle', runId, '--out', bundleFile, '--server', second.base], { CAIRN_TOKEN: token });
    expect(bundled.status, bundled.stderr).toBe(0);
    const verified = await cairn(directory, ['verify', bundleFile, '--trusted-key', keyId]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^valid: true/);

    // The secret reached its pods sealed through KMS in storage: never in a pod spec, a Secret or
    // any request to the API server, nor in what either server wrote.
    const pods = endpoint.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/pods'));
    expect(pods.length).toBe(itemIds.length);
    expect(endpoint.requests.map((request) => JSON.stringify(request.body ?? null)).join('\n')).not.toContain(secret);
    expect(firstOutput() + secondOutput()).not.toContain(secret);
    expect((secondOutput() + firstOutput()).length).toBeGreaterThan(0);
  },
);
