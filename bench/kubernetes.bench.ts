// The Kubernetes executor's own cost per attempt (issue 54, ADR 0051) against the Kubernetes API
// test endpoint on loopback (the real @kubernetes/client-node, no network latency: a floor): the
// API requests it makes for one attempt, from its start to its exit learned, and the CPU of its
// process. The executor runs in a Node of its own (kubernetes-executor-child.ts), so that neither
// the endpoint nor the pods' containers (bubblewrap, `/bin/true`) are counted in it; it learns exits
// as the engine does, asking `inspect` (answered from its watch) every 50 ms. Then the claim path
// (agent-sandbox, ADR 0051): the same attempts claiming sandboxes from a warm pool kept full by the
// test support's stand-in for agent-sandbox's controllers (its own requests are counted apart and
// left out), each warm pod a shell waiting for its claim's annotations in its downwardAPI file.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { workerTestRootfs } from '@cairn/fargate/testing';
import { pathToFileURL } from 'node:url';
import { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import type { KubernetesExecutorReport } from './kubernetes-executor-child.ts';
import { recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const attempts = 50;
const claimedAttempts = 20;
const image = 'bench/true:1';
/** The stand-in for agent-sandbox's controllers, as this bench uses it. */
interface ControllerStandIn {
  readonly bound: { readonly warm: number; readonly cold: number };
  readonly requests: number;
  stop(): void;
}
interface AgentSandboxSupport {
  readonly AgentSandboxControllerStandIn: new (config: ReturnType<KubernetesTestEndpoint['kubeConfig']>, namespace: string) => ControllerStandIn;
  readonly readCrd: (file: string) => {
    readonly document: NonNullable<Parameters<typeof KubernetesTestEndpoint.start>[0]['customResourceDefinitions']>[number];
  };
}
// Test support outside the package's published files (as the agent-sandbox CRDs are): loaded by path.
async function agentSandboxSupport(): Promise<AgentSandboxSupport> {
  const at = (path: string) => pathToFileURL(new URL(`../packages/kubernetes/src/testing/${path}`, import.meta.url).pathname).href;
  const [controller, crd] = await Promise.all([
    import(/* @vite-ignore */ at('agent-sandbox/agent-sandbox-controller.ts')),
    import(/* @vite-ignore */ at('crd-schema.test-support.ts')),
  ]);
  return { ...(controller as Pick<AgentSandboxSupport, 'AgentSandboxControllerStandIn'>), ...(crd as Pick<AgentSandboxSupport, 'readCrd'>) };
}
const crds = [
  'agents.x-k8s.io_sandboxes.yaml',
  'extensions.agents.x-k8s.io_sandboxclaims.yaml',
  'extensions.agents.x-k8s.io_sandboxwarmpools.yaml',
  'extensions.agents.x-k8s.io_sandboxtemplates.yaml',
];

export default async function kubernetesBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  // The host's /usr, /bin and /lib bound into an empty root: enough for /bin/true.
  const support = await agentSandboxSupport();
  const rootfs = workerTestRootfs();
  const endpoint = await KubernetesTestEndpoint.start({
    images: { [image]: { ...rootfs.definition, entrypoint: ['/bin/true'], command: [] } },
    customResourceDefinitions: crds.map((file) => support.readCrd(file).document),
  });
  let controller: ControllerStandIn | undefined;
  const folder = mkdtempSync(join(tmpdir(), 'cairn-bench-kubernetes-'));
  try {
    const kubeconfig = join(folder, 'kubeconfig');
    writeFileSync(kubeconfig, endpoint.kubeConfig().exportConfig(), { mode: 0o600 });
    // Not execFileSync: the endpoint answers from this process's event loop.
    const run = async (count: number, runId: string, pool: readonly string[] = []): Promise<KubernetesExecutorReport> => {
      const [node, ...argv] = childNodeArgv([], 'kubernetes-executor-child.ts', [kubeconfig, endpoint.namespace, image, String(count), runId, ...pool]);
      return lastJsonLine<KubernetesExecutorReport>((await promisify(execFile)(node!, argv, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })).stdout);
    };
    log('  a first run of 5 attempts, unrecorded (the code paths warm)');
    await run(5, 'warm-up');
    const before = endpoint.requests.length;
    log(`  ${attempts} attempts started at once, each a pod running /bin/true`);
    const report = await run(attempts, 'measured');
    if (report.exited !== attempts) throw new Error(`${attempts - report.exited} of ${attempts} attempts had not exited after 120 s`);
    const requests = endpoint.requests.slice(before);
    const byKind = new Map<string, number>();
    for (const request of requests) {
      const kind = `${request.method} ${request.path.replace(/\/namespaces\/[^/]+/, '/namespaces/…').replace(/\/(pods|secrets|networkpolicies)\/[^/?]+/, '/$1/…')}${request.query['watch'] === 'true' ? ' (watch)' : ''}`;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    log(`    requests: ${[...byKind].map(([kind, count]) => `${kind} ${count}`).join(', ')}`);
    log(`    executor: ${Math.round(report.cpuMs)} ms CPU, ${Math.round(report.wallMs)} ms wall`);
    const perAttempt = (value: number) => Number((value / attempts).toFixed(2));
    const claimed = await claimPath(endpoint, (controller = new support.AgentSandboxControllerStandIn(endpoint.kubeConfig(), endpoint.namespace)), run, log);
    return [
      recorded('kubernetes.attempt.api-requests', perAttempt(requests.length), 'requests'),
      recorded('kubernetes.attempt.executor-cpu-ms', perAttempt(report.cpuMs), 'ms'),
      recorded(`kubernetes.${attempts}-attempts.wall-ms`, Math.round(report.wallMs), 'ms'),
      ...claimed,
    ];
  } finally {
    controller?.stop();
    await endpoint.stop();
    rootfs.remove();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The claim path's rows: a warm pool of `claimedAttempts`, full before the measured run, so every claim is a warm hit. */
async function claimPath(
  endpoint: KubernetesTestEndpoint,
  controller: ControllerStandIn,
  run: (count: number, runId: string, pool: readonly string[]) => Promise<KubernetesExecutorReport>,
  log: BenchmarkContext['log'],
): Promise<BenchmarkRow[]> {
  // Plain HTTP to the endpoint, as kubectl would send these objects.
  const api = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as { items?: { status?: { phase?: string } }[] };
  };
  const extensions = `/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/${endpoint.namespace}`;
  const file = '/run/cairn/attempt/annotations';
  // What the worker's wait mode does, in a shell: wait until the annotations name an attempt, then end.
  const waits = `until grep -q '^cairn.dev/execution-id=' ${file} 2>/dev/null; do sleep 0.05; done`;
  await api('POST', `${extensions}/sandboxtemplates`, {
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    kind: 'SandboxTemplate',
    metadata: { name: 'bench-waiting' },
    spec: {
      podTemplate: {
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          volumes: [{ name: 'attempt', downwardAPI: { items: [{ path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } }] } }],
          containers: [
            {
              name: 'cairn-worker',
              image,
              command: ['/bin/sh', '-c', waits],
              volumeMounts: [{ name: 'attempt', mountPath: '/run/cairn/attempt', readOnly: true }],
            },
          ],
        },
      },
    },
  });
  const pool = async (name: string, replicas: number) =>
    api('POST', `${extensions}/sandboxwarmpools`, {
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxWarmPool',
      metadata: { name },
      spec: { replicas, sandboxTemplateRef: { name: 'bench-waiting' } },
    });
  const warmRunning = async (name: string, replicas: number) => {
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const pods = await api(
        'GET',
        `/api/v1/namespaces/${endpoint.namespace}/pods?labelSelector=${encodeURIComponent(`agents.x-k8s.io/warm-pool-sandbox=${name}`)}`,
      );
      if ((pods.items ?? []).filter((pod) => pod.status?.phase === 'Running').length >= replicas) return;
    }
    throw new Error(`the warm pool ${name} did not fill in 120 s`);
  };
  log('  the claim path: a warm-up run of 3 claims on a pool of 3, unrecorded');
  await pool('bench-warm-up', 3);
  await warmRunning('bench-warm-up', 3);
  await run(3, 'claim-warm-up', ['bench-warm-up', 'bench-waiting']);
  log(`  ${claimedAttempts} attempts claiming at once from a warm pool of ${claimedAttempts}`);
  await pool('bench-claims', claimedAttempts);
  await warmRunning('bench-claims', claimedAttempts);
  const bound = { ...controller.bound };
  const before = endpoint.requests.length;
  const controllerBefore = controller.requests;
  const report = await run(claimedAttempts, 'claimed', ['bench-claims', 'bench-waiting']);
  if (report.exited !== claimedAttempts)
    throw new Error(`${claimedAttempts - report.exited} of ${claimedAttempts} claimed attempts had not exited after 120 s`);
  const own = endpoint.requests.length - before - (controller.requests - controllerBefore);
  const warm = controller.bound.warm - bound.warm;
  log(
    `    executor: ${own} requests (the controller stand-in's ${controller.requests - controllerBefore} left out), ${Math.round(report.cpuMs)} ms CPU, ${Math.round(report.wallMs)} ms wall; ${warm} warm hits`,
  );
  const perAttempt = (value: number) => Number((value / claimedAttempts).toFixed(2));
  return [
    recorded('kubernetes.claim.api-requests', perAttempt(own), 'requests'),
    recorded('kubernetes.claim.executor-cpu-ms', perAttempt(report.cpuMs), 'ms'),
    recorded(`kubernetes.${claimedAttempts}-claims.wall-ms`, Math.round(report.wallMs), 'ms'),
    recorded(`kubernetes.${claimedAttempts}-claims.warm-hits`, warm, 'claims'),
  ];
}
