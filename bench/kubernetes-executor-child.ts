// The Kubernetes executor alone in a Node of its own (so that its CPU is not the endpoint's or the
// pods'), for kubernetes.bench.ts: it starts `count` attempts at once against the API endpoint the
// kubeconfig names, waits until every one has exited (as the engine learns it: `inspect`, answered
// from the executor's watch), and prints one JSON line: its CPU over the run and its wall time.
// Argv: <kubeconfig file> <namespace> <image> <count> <run id> [<warm pool> <sandbox template>]: with
// the last two, attempts claim their sandboxes from that agent-sandbox warm pool (`sandboxPool`).
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DispatchManifest, ExecutionHandle, PublicKeyRecord } from '@cairn/core';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createKubernetesExecutor } from '@cairn/kubernetes';
import { canonicalJsonBytes, digestOfJson, manifestKey, sha256Digest } from '@cairn/protocol';

export interface KubernetesExecutorReport {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly exited: number;
}

const [kubeconfigFile, namespace, image, countText, runId, warmPool, template] = process.argv.slice(2);
const count = Number(countText);
const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };
const storage = createInMemoryStorageProvider();
const executor = createKubernetesExecutor({
  kubeConfig: readFileSync(kubeconfigFile!, 'utf8'),
  namespace: namespace!,
  image: image!,
  network: { egress: [{ cidr: '127.0.0.1/32', ports: [9] }] },
  storage,
  taskStorage: { bucket: 'cairn-bench', region: 'us-east-1' },
  trustedKeys: [key],
  ...(warmPool !== undefined && template !== undefined ? { sandboxPool: { warmPool, template } } : {}),
});

// Each attempt's manifest is in storage before its start, as the engine stores it; not timed. The
// executor reads the facts it needs (the time limit, the ids); it does not check the signature.
const tasks = [];
for (let index = 0; index < count; index++) {
  const executionId = `${runId}/item-${index}/1`;
  const manifest: DispatchManifest = {
    version: 'cairn.manifest/v1',
    runId: runId!,
    itemId: `item-${index}`,
    attempt: 1,
    fencingToken: 1,
    executionId,
    runtime: { kind: 'command', argv: ['/bin/true'] },
    workspace: sha256Digest(''),
    inputs: {},
    apply: [],
    env: {},
    secretNames: [],
    limits: { timeoutMs: 60_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 },
    effect: 'read-impure',
    issuedAt: new Date().toISOString(),
  };
  const envelope = {
    payload: Buffer.from(canonicalJsonBytes(manifest)).toString('base64'),
    payloadType: 'application/vnd.cairn.manifest+json',
    signatures: [{ keyid: key.keyId, sig: 'bench' }],
  };
  const manifestDigest = digestOfJson(envelope);
  await storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope));
  tasks.push({ executionId, manifestDigest });
}

const before = process.cpuUsage();
const started = performance.now();
const handles: ExecutionHandle[] = await Promise.all(tasks.map((task) => executor.start(task)));
let exited = 0;
for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(50)) {
  const states = await Promise.all(handles.map((handle) => executor.inspect(handle)));
  exited = states.filter((status) => status.state === 'exited').length;
  if (exited === handles.length) break;
}
const wallMs = performance.now() - started;
const used = process.cpuUsage(before);
executor.close();
const report: KubernetesExecutorReport = { cpuMs: (used.user + used.system) / 1000, wallMs, exited };
console.log(JSON.stringify(report));
