// The Kubernetes executor's own cost per attempt (issue 54, ADR 0051) against the Kubernetes API
// test endpoint on loopback (the real @kubernetes/client-node, no network latency: a floor): the
// API requests it makes for one attempt, from its start to its exit learned, and the CPU of its
// process. The executor runs in a Node of its own (kubernetes-executor-child.ts), so that neither
// the endpoint nor the pods' containers (bubblewrap, `/bin/true`) are counted in it; it learns exits
// as the engine does, asking `inspect` (answered from its watch) every 50 ms.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { workerTestRootfs } from '@cairn/fargate/testing';
import { KubernetesTestEndpoint } from '@cairn/kubernetes/testing';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import type { KubernetesExecutorReport } from './kubernetes-executor-child.ts';
import { recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const attempts = 50;
const image = 'bench/true:1';

export default async function kubernetesBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  // The host's /usr, /bin and /lib bound into an empty root: enough for /bin/true.
  const rootfs = workerTestRootfs();
  const endpoint = await KubernetesTestEndpoint.start({ images: { [image]: { ...rootfs.definition, entrypoint: ['/bin/true'], command: [] } } });
  const folder = mkdtempSync(join(tmpdir(), 'cairn-bench-kubernetes-'));
  try {
    const kubeconfig = join(folder, 'kubeconfig');
    writeFileSync(kubeconfig, endpoint.kubeConfig().exportConfig(), { mode: 0o600 });
    // Not execFileSync: the endpoint answers from this process's event loop.
    const run = async (count: number, runId: string): Promise<KubernetesExecutorReport> => {
      const [node, ...argv] = childNodeArgv([], 'kubernetes-executor-child.ts', [kubeconfig, endpoint.namespace, image, String(count), runId]);
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
    return [
      recorded('kubernetes.attempt.api-requests', perAttempt(requests.length), 'requests'),
      recorded('kubernetes.attempt.executor-cpu-ms', perAttempt(report.cpuMs), 'ms'),
      recorded(`kubernetes.${attempts}-attempts.wall-ms`, Math.round(report.wallMs), 'ms'),
    ];
  } finally {
    await endpoint.stop();
    rootfs.remove();
    rmSync(folder, { recursive: true, force: true });
  }
}
