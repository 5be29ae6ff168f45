import { Watch } from '@kubernetes/client-node';
import type { KubernetesTestEndpoint } from './kubernetes-test-endpoint.ts';

interface SeenPod {
  metadata?: { uid?: string; resourceVersion?: string; annotations?: Record<string, string> };
  status?: { containerStatuses?: { restartCount?: number; state?: { running?: unknown; terminated?: { startedAt?: string } } }[] };
}

/**
 * An oracle beside the executor: its own watch on every pod of the endpoint's namespace, through the
 * real client, counting per execution (the pod's `cairn.dev/execution-id` annotation) the pods whose
 * container started. Independent of the executor under test: it shares no code or cache with it.
 */
export class StartedContainers {
  readonly #started = new Map<string, Set<string>>();
  #controller: AbortController | undefined;
  #resourceVersion = '0';
  #closed = false;

  static async watch(endpoint: KubernetesTestEndpoint): Promise<StartedContainers> {
    const oracle = new StartedContainers();
    await oracle.#watch(endpoint);
    return oracle;
  }

  /** How many pods of `executionId` started their container, over every executor instance and restart. */
  runCount(executionId: string): number {
    return this.#started.get(executionId)?.size ?? 0;
  }

  close(): void {
    this.#closed = true;
    this.#controller?.abort();
  }

  async #watch(endpoint: KubernetesTestEndpoint): Promise<void> {
    if (this.#closed) return;
    this.#controller = await new Watch(endpoint.kubeConfig()).watch(
      `/api/v1/namespaces/${endpoint.namespace}/pods`,
      { resourceVersion: this.#resourceVersion, timeoutSeconds: 20 },
      (type: string, pod: SeenPod) => {
        // 410 Gone (a compacted history): start again from the current state.
        if (type === 'ERROR') {
          this.#resourceVersion = '0';
          return;
        }
        if (pod.metadata?.resourceVersion) this.#resourceVersion = pod.metadata.resourceVersion;
        const executionId = pod.metadata?.annotations?.['cairn.dev/execution-id'];
        const ran = (pod.status?.containerStatuses ?? []).some(
          (container) => container.state?.running !== undefined || container.state?.terminated?.startedAt !== undefined || (container.restartCount ?? 0) > 0,
        );
        if (executionId === undefined || !ran || pod.metadata?.uid === undefined) return;
        const pods = this.#started.get(executionId) ?? new Set<string>();
        pods.add(pod.metadata.uid);
        this.#started.set(executionId, pods);
      },
      () => void setTimeout(() => void this.#watch(endpoint).catch(() => undefined), 10),
    );
  }
}
