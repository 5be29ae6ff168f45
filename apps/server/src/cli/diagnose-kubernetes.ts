import { readFileSync } from 'node:fs';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { ExecutorConfig } from '../config/server-config-schema.ts';

type KubernetesExecutorConfig = Extract<ExecutorConfig, { kind: 'kubernetes' }>;
type Note = (check: string, ok: boolean, detail: string, fix?: string) => void;

/**
 * A kubernetes executor: the kubeconfig loads and the API server answers for the namespace. One
 * GET of the namespace's attempt pods (the list the executor's watch starts from, so the
 * permission it checks is one the server needs; `limit: 1`, nothing changed). A kubeconfig that
 * does not load, an API server that does not answer, a refused credential, a Role that does not
 * allow it and a missing namespace each get their own fix.
 */
export async function diagnoseKubernetes(config: KubernetesExecutorConfig, paths: LoadedServerConfig['paths'], note: Note): Promise<void> {
  const check = 'executor kubernetes';
  const source = paths.kubeconfig ?? 'the default kubeconfig (KUBECONFIG, ~/.kube/config or the in-cluster service account)';
  const kubeConfig = new KubeConfig();
  try {
    if (paths.kubeconfig === undefined) kubeConfig.loadFromDefault();
    else kubeConfig.loadFromString(readFileSync(paths.kubeconfig, 'utf8'));
    if (kubeConfig.getCurrentCluster() === null) throw new Error('it names no current cluster');
  } catch (error) {
    note(
      check,
      false,
      `${source} does not load: ${error instanceof Error ? error.message : String(error)}`,
      paths.kubeconfig === undefined
        ? 'set executor.kubeconfigFile to a kubeconfig naming the cluster and the server credentials (kubectl config view --raw --minify > kubeconfig.yaml), or run the server in the cluster with its service account'
        : 'fix executor.kubeconfigFile: a readable kubeconfig whose current context names the cluster (kubectl config view --raw --minify > kubeconfig.yaml)',
    );
    return;
  }
  const server = kubeConfig.getCurrentCluster()!.server;
  const where = `namespace ${config.namespace} at ${server}`;
  try {
    const pods = await kubeConfig
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: config.namespace, labelSelector: 'app.kubernetes.io/managed-by=cairn', limit: 1 });
    note(
      check,
      true,
      `the API server answers for ${where} (a list of its attempt pods: ${pods.items.length === 0 ? 'none' : 'some'} now; kubeconfig: ${source}); no pod, secret or network policy is created`,
    );
  } catch (error) {
    const { code, body, message } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; body?: unknown; message?: string };
    let status: { reason?: string; message?: string } = {};
    try {
      status = typeof body === 'string' ? (JSON.parse(body) as typeof status) : typeof body === 'object' && body !== null ? (body as typeof status) : {};
    } catch {
      status = {};
    }
    const answered =
      typeof code === 'number'
        ? `the API server answered ${code}${status.reason ? ` ${status.reason}` : ''}${status.message ? `: ${status.message}` : ''}`
        : `no answer (${message ?? String(error)})`;
    note(check, false, `${where}: ${answered}`, kubernetesFix(typeof code === 'number' ? code : undefined));
  }
}

/** What to do about a list of pods that failed, from what the API server answered. */
function kubernetesFix(code: number | undefined): string {
  if (code === undefined)
    return "the API server did not answer: check the kubeconfig's server address (executor.kubeconfigFile), that this machine reaches it (network, DNS, proxy) and its certificate authority";
  if (code === 401) return "the kubeconfig's credential is refused: renew its token or client certificate (executor.kubeconfigFile)";
  if (code === 403)
    return "the server's identity may not list pods in executor.namespace: bind it to a Role there allowing pods (create, get, list, watch, delete), secrets and networkpolicies (create, get, delete, list) (deploy/kubernetes has one)";
  if (code === 404) return 'the namespace does not exist: fix executor.namespace or create it (kubectl create namespace <name>)';
  return 'check executor.namespace and executor.kubeconfigFile, and the API server health';
}
