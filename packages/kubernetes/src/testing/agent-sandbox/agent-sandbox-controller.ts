// A stand-in for agent-sandbox's controllers (kubernetes-sigs/agent-sandbox at the commit the CRDs
// beside it come from), for tests only: no Kubernetes cluster runs here, so nothing else would act
// on the SandboxWarmPools and SandboxClaims the Kubernetes test endpoint stores. Like the real
// controllers it is a client of the API (client-node over HTTP, so every object it writes is checked
// against the CRDs' schemas by the endpoint) and does what they do, reduced to what Cairn relies on:
// - a SandboxWarmPool keeps `spec.replicas` unclaimed Sandboxes of its SandboxTemplate, each with its
//   pod (labelled `agents.x-k8s.io/warm-pool-sandbox`, launch type `warm`, owned by the pool), whose
//   containers the endpoint really runs;
// - a SandboxClaim adopts a warm Sandbox whose pod is ready (a warm hit: the Sandbox is re-owned by
//   the claim, and the claim's `additionalPodMetadata` merged onto the running pod, which the
//   endpoint's kubelet writes into its downwardAPI files), or else makes a cold one (launch type
//   `cold`, the metadata in the pod from its start); its status then names the Sandbox, `Ready`
//   once that pod runs;
// - owner references take a claim's Sandbox and pod with it when the claim is deleted.
// Not done: the template's NetworkPolicy, `env` on claims, lifecycle (shutdownTime), scale-down.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

const extensions = { group: 'extensions.agents.x-k8s.io', version: 'v1beta1' } as const;
const core = { group: 'agents.x-k8s.io', version: 'v1beta1' } as const;

/** Labels the controllers set (agent-sandbox's `api/v1beta1/sandbox_types.go`). */
export const agentSandboxLabels = {
  launchType: 'agents.x-k8s.io/launch-type',
  warmPool: 'agents.x-k8s.io/warm-pool-sandbox',
  podName: 'agents.x-k8s.io/pod-name',
} as const;

interface Metadata {
  name: string;
  uid: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
}
interface CustomObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

const stamp = () => new Date(Math.floor(Date.now() / 1_000) * 1_000).toISOString().replace('.000Z', 'Z');
const ownerOf = (object: CustomObject) => ({
  apiVersion: object.apiVersion,
  kind: object.kind,
  name: object.metadata.name,
  uid: object.metadata.uid,
  controller: true,
});
const controllerOf = (metadata: Metadata) => metadata.ownerReferences?.find((reference) => reference.controller);
const podReady = (pod: V1Pod | undefined) =>
  pod?.status?.phase === 'Running' && (pod.status.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
const readyCondition = (ready: boolean, reason: string, message: string) => ({
  type: 'Ready',
  status: ready ? 'True' : 'False',
  reason,
  message,
  lastTransitionTime: stamp(),
});

/** The stand-in's reconcile loop over one namespace; `stop()` ends it. */
export class AgentSandboxControllerStandIn {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #timer: NodeJS.Timeout;
  #busy = false;
  #sequence = 0;
  /** Errors a reconcile met (the loop goes on, as a controller's does); a test may assert there were none. */
  readonly errors: string[] = [];
  /** Claims bound, by launch type, as this stand-in bound them. */
  readonly bound = { warm: 0, cold: 0 };
  /** The API requests this stand-in made: what a bench subtracts from the endpoint's to count a client's own. */
  requests = 0;

  constructor(config: KubeConfig, namespace: string, intervalMs = 25) {
    this.#custom = config.makeApiClient(CustomObjectsApi);
    this.#core = config.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#timer = setInterval(() => void this.#tick(), intervalMs);
  }

  #counted<Api>(api: Api): Api {
    this.requests += 1;
    return api;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#reconcile();
    } catch (error) {
      // A conflict or a vanished object is the next pass's to settle, as for the real controllers.
      const code = (error as { code?: number }).code;
      if (code !== 409 && code !== 404) this.errors.push(error instanceof Error ? error.message : String(error));
    } finally {
      this.#busy = false;
    }
  }

  async #list(resource: { group: string; version: string }, plural: string): Promise<CustomObject[]> {
    const list = (await this.#counted(this.#custom).listNamespacedCustomObject({ ...resource, namespace: this.#namespace, plural })) as {
      items: CustomObject[];
    };
    return list.items;
  }

  async #reconcile(): Promise<void> {
    const [pools, templates, sandboxes, claims, podList] = await Promise.all([
      this.#list(extensions, 'sandboxwarmpools'),
      this.#list(extensions, 'sandboxtemplates'),
      this.#list(core, 'sandboxes'),
      this.#list(extensions, 'sandboxclaims'),
      this.#counted(this.#core).listNamespacedPod({ namespace: this.#namespace }),
    ]);
    const pods = new Map(podList.items.map((pod) => [pod.metadata!.name!, pod]));
    const podOf = (sandbox: CustomObject) => pods.get(sandbox.metadata.annotations?.[agentSandboxLabels.podName] ?? sandbox.metadata.name);
    for (const sandbox of sandboxes) await this.#syncSandboxStatus(sandbox, podOf(sandbox));
    for (const pool of pools) {
      const template = templates.find((candidate) => candidate.metadata.name === (pool.spec['sandboxTemplateRef'] as { name: string }).name);
      const members = sandboxes.filter((sandbox) => controllerOf(sandbox.metadata)?.uid === pool.metadata.uid && !sandbox.metadata.deletionTimestamp);
      const wanted = (pool.spec['replicas'] as number | undefined) ?? 0;
      if (template) for (let count = members.length; count < wanted; count++) await this.#makeSandbox(template, pool, 'warm');
      const ready = members.filter((sandbox) => podReady(podOf(sandbox))).length;
      const status = { replicas: members.length, readyReplicas: ready, selector: `${agentSandboxLabels.warmPool}=${pool.metadata.name}` };
      if (JSON.stringify(pool.status ?? {}) !== JSON.stringify(status)) await this.#writeStatus(extensions, 'sandboxwarmpools', pool, status);
    }
    for (const claim of claims) {
      if (claim.metadata.deletionTimestamp) continue;
      const named = (claim.status?.['sandbox'] as { name?: string } | undefined)?.name;
      if (named !== undefined) {
        await this.#syncClaimStatus(claim, named, podOf(sandboxes.find((sandbox) => sandbox.metadata.name === named) ?? claim));
        continue;
      }
      const pool = pools.find((candidate) => candidate.metadata.name === (claim.spec['warmPoolRef'] as { name: string }).name);
      if (!pool) {
        await this.#writeStatus(extensions, 'sandboxclaims', claim, {
          conditions: [readyCondition(false, 'WarmPoolNotFound', `SandboxWarmPool ${(claim.spec['warmPoolRef'] as { name: string }).name} not found`)],
        });
        continue;
      }
      const warm = sandboxes.find(
        (sandbox) => controllerOf(sandbox.metadata)?.uid === pool.metadata.uid && !sandbox.metadata.deletionTimestamp && podReady(podOf(sandbox)),
      );
      const sandbox = warm ? await this.#adopt(warm, podOf(warm)!, claim) : await this.#cold(claim, pool, templates);
      if (!sandbox) continue;
      // Later claims of this pass see it as it is now: claimed, or the cold one made for this claim.
      if (warm) sandboxes.splice(sandboxes.indexOf(warm), 1, sandbox);
      else sandboxes.push(sandbox);
      this.bound[warm ? 'warm' : 'cold'] += 1;
      // An adopted warm sandbox is ready as it is adopted; a cold one once its pod runs (a later pass).
      await this.#writeStatus(extensions, 'sandboxclaims', claim, {
        sandbox: { name: sandbox.metadata.name },
        conditions: [warm ? readyCondition(true, 'SandboxReady', 'Sandbox is ready') : readyCondition(false, 'SandboxNotReady', 'the sandbox pod is starting')],
      });
    }
  }

  /** A warm hit: the Sandbox leaves the pool for the claim, and the claim's metadata reaches the running pod. */
  async #adopt(sandbox: CustomObject, pod: V1Pod, claim: CustomObject): Promise<CustomObject> {
    const extra = (claim.spec['additionalPodMetadata'] ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
    const labels = { ...sandbox.metadata.labels };
    delete labels[agentSandboxLabels.warmPool];
    const adopted = (await this.#counted(this.#custom).replaceNamespacedCustomObject({
      ...core,
      namespace: this.#namespace,
      plural: 'sandboxes',
      name: sandbox.metadata.name,
      body: { ...sandbox, metadata: { ...sandbox.metadata, labels, ownerReferences: [ownerOf(claim)] } },
    })) as CustomObject;
    const podLabels = { ...pod.metadata!.labels, ...extra.labels };
    delete podLabels[agentSandboxLabels.warmPool];
    await this.#counted(this.#core).replaceNamespacedPod({
      name: pod.metadata!.name!,
      namespace: this.#namespace,
      body: { ...pod, metadata: { ...pod.metadata, labels: podLabels, annotations: { ...pod.metadata!.annotations, ...extra.annotations } } },
    });
    return adopted;
  }

  async #cold(claim: CustomObject, pool: CustomObject, templates: CustomObject[]): Promise<CustomObject | undefined> {
    const template = templates.find((candidate) => candidate.metadata.name === (pool.spec['sandboxTemplateRef'] as { name: string }).name);
    if (!template) return undefined;
    const extra = (claim.spec['additionalPodMetadata'] ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
    return this.#makeSandbox(template, claim, 'cold', extra);
  }

  /** A Sandbox from the template, owned by `owner` (a pool, or a claim for a cold start), and its pod, owned by the Sandbox. */
  async #makeSandbox(
    template: CustomObject,
    owner: CustomObject,
    launch: 'warm' | 'cold',
    extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
  ): Promise<CustomObject> {
    const podTemplate = template.spec['podTemplate'] as PodTemplate;
    const name = `${owner.metadata.name.slice(0, 40)}-${launch}-${(this.#sequence++).toString(36)}${Date.now().toString(36).slice(-4)}`;
    const poolLabel = launch === 'warm' ? { [agentSandboxLabels.warmPool]: owner.metadata.name } : {};
    const sandbox = (await this.#counted(this.#custom).createNamespacedCustomObject({
      ...core,
      namespace: this.#namespace,
      plural: 'sandboxes',
      body: {
        apiVersion: `${core.group}/${core.version}`,
        kind: 'Sandbox',
        metadata: { name, labels: { [agentSandboxLabels.launchType]: launch, ...poolLabel }, ownerReferences: [ownerOf(owner)] },
        spec: { podTemplate },
      },
    })) as CustomObject;
    await this.#counted(this.#core).createNamespacedPod({
      namespace: this.#namespace,
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name,
          labels: { ...podTemplate.metadata?.labels, ...poolLabel, ...extra.labels },
          annotations: { ...podTemplate.metadata?.annotations, ...extra.annotations },
          ownerReferences: [{ ...ownerOf(sandbox), blockOwnerDeletion: true }],
        },
        spec: podTemplate.spec as unknown as NonNullable<V1Pod['spec']>,
      },
    });
    return sandbox;
  }

  async #syncSandboxStatus(sandbox: CustomObject, pod: V1Pod | undefined): Promise<void> {
    const ready = podReady(pod);
    const status = {
      conditions: [readyCondition(ready, ready ? 'DependenciesReady' : 'DependenciesNotReady', ready ? 'Pod is Ready' : 'Pod is not Ready')],
      ...(pod?.status?.podIPs ? { podIPs: pod.status.podIPs.map((ip) => ip.ip) } : {}),
    };
    const previous = (sandbox.status?.['conditions'] as { status: string }[] | undefined)?.[0]?.status;
    if (previous === status.conditions[0]!.status && (sandbox.status?.['podIPs'] !== undefined) === (status.podIPs !== undefined)) return;
    await this.#writeStatus(core, 'sandboxes', sandbox, status);
  }

  async #syncClaimStatus(claim: CustomObject, sandboxName: string, pod: V1Pod | undefined): Promise<void> {
    const ready = podReady(pod);
    const previous = (claim.status?.['conditions'] as { status: string }[] | undefined)?.[0]?.status;
    if (previous === (ready ? 'True' : 'False') || (!ready && previous === 'True')) return;
    await this.#writeStatus(extensions, 'sandboxclaims', claim, {
      sandbox: { name: sandboxName, ...(pod?.status?.podIPs ? { podIPs: pod.status.podIPs.map((ip) => ip.ip) } : {}) },
      conditions: [readyCondition(ready, ready ? 'SandboxReady' : 'SandboxNotReady', ready ? 'Sandbox is ready' : 'the sandbox pod is starting')],
    });
  }

  async #writeStatus(resource: { group: string; version: string }, plural: string, object: CustomObject, status: Record<string, unknown>): Promise<void> {
    await this.#counted(this.#custom).replaceNamespacedCustomObjectStatus({
      ...resource,
      namespace: this.#namespace,
      plural,
      name: object.metadata.name,
      body: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        metadata: { name: object.metadata.name, resourceVersion: object.metadata.resourceVersion },
        status,
      },
    });
  }
}
