// A Kubernetes API endpoint for tests: no API server can be installed here (no kube-apiserver,
// k3s, kind or kwok in Debian or npm). It speaks the Kubernetes API on loopback, over HTTP with a
// bearer token, as the API reference documents it, to the real `@kubernetes/client-node`, for
// what an executor does in ONE namespace: core/v1 pods (create, get, list, delete, watch, log),
// core/v1 secrets and networking.k8s.io/v1 networkpolicies (create, get, list, replace, patch,
// delete), and agent-sandbox's Sandbox (agents.x-k8s.io/v1beta1), SandboxClaim, SandboxWarmPool and
// SandboxTemplate (extensions.agents.x-k8s.io/v1beta1) with their `status` subresources where their
// CRDs are installed (`customResourceDefinitions`), checked against the CRDs' own `openAPIV3Schema`
// (stored; `agent-sandbox/agent-sandbox-controller.ts` stands in for the project's controllers). Answers are the API server's: objects with `uid`, `resourceVersion` (one counter for
// every write, as etcd's revision), `creationTimestamp` and the defaults it fills in; `Status`
// bodies for 401, 403 (another namespace, as a namespaced Role gives), 404, 409 AlreadyExists and
// Conflict, 410 Expired and 422 Invalid with field causes; label and field selectors; watches as
// newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK, and ERROR with a 410 Status
// for a resourceVersion older than the history kept, as the watch cache sends it); graceful pod
// deletion; owner references and the garbage collector's three propagation policies.
//
// Every object it is sent (and every object it answers) is validated against the Kubernetes
// OpenAPI schemas (`kubernetes-models`), then against the server's own rules a schema does not
// carry (names, labels, containers, images, requests within limits): a refusal is 422 with the
// field and the validator's message, so the endpoint cannot drift from the real API.
//
// A pod's containers run for real: from the image's root filesystem (the `images` option maps an
// image reference to an unpacked rootfs, e.g. `workerTestRootfs`'s) under bubblewrap, as the ECS
// test endpoint runs a task: with the spec's command and args over the image's entrypoint and cmd
// ($(VAR) expanded), exactly the image's env plus the spec's env (values, `secretKeyRef` and
// `envFrom` resolved from the stored secrets, `fieldRef`), HOSTNAME the pod's name, the user of
// `securityContext` or the image, emptyDir, secret and downwardAPI volumes mounted (a downwardAPI
// file of labels or annotations rewritten when they change, as the kubelet does), a `resources.limits.memory`
// enforced by a v1 memory cgroup (so an OOM kill is the kernel's and is reported `OOMKilled`,
// exit code 137), `activeDeadlineSeconds` enforced, SIGTERM then SIGKILL after the grace period
// on deletion. The pod's status is kept as the kubelet reports it: phase Pending → Running →
// Succeeded/Failed, `containerStatuses[].state` waiting (ContainerCreating,
// CreateContainerConfigError while a secret is missing, ErrImagePull/ImagePullBackOff) → running
// → terminated {exitCode, reason Completed/Error/OOMKilled}, restarts by restartPolicy, and the
// conditions PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.
//
// Compromises, for tests only: a pod shares the host's network namespace (`--share-net`), because
// what it must reach (storage, the server's gateway, this endpoint) listens on the host's loopback;
// its podIP is therefore 127.0.0.1, and NetworkPolicies are stored and validated but not enforced.
// The image's root filesystem is read-only (a real container's is writable); /tmp is a tmpfs. A
// container of uid 0 runs as the host's root without a user namespace (one maps a single uid), with
// containerd's default capabilities as `securityContext.capabilities` leave them, so the endpoint
// must run as root for it; others run in a user namespace as their uid. A privileged container is
// not run (CreateContainerError): the endpoint cannot give one the host.
//
// Simulated, because it cannot happen on one host without a cluster: scheduling (one node, every
// pod fits unless `holdScheduling` makes pods Unschedulable); pulling (an image in `images` is
// present, any other fails ErrImagePull → ImagePullBackOff, as a registry without it would); a
// node-pressure eviction (`evict`: the containers are really killed, the status is the kubelet's);
// a dropped watch (`dropWatches`) and etcd's compaction (`compactHistory`). Test support, not a product.
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { alreadyExists, badRequest, conflict, expired, invalid, KubernetesStatusError, notFound, type StatusCause } from './api-status.ts';
import { ContainerProcess, runtimeDefaultCapabilities, type ContainerExit, type ContainerLaunch, type KubernetesTestImage } from './container-process.ts';
import { unsupportedDownwardFields, writeDownwardApiVolume, type DownwardApiVolumeSource } from './downward-api-volume.ts';
import { parseLabelSelector } from './label-selector.ts';
import { metadataCauses, validateObject, type StoredKind } from './object-validation.ts';
import { checkSchema, type CustomResourceDefinitionDocument, type StructuralSchema } from './structural-schema.ts';
import { parseQuantity } from './quantity.ts';

/** Options of `KubernetesTestEndpoint.start`. */
export interface KubernetesTestEndpointOptions {
  /** Image references (as a pod spec names them) and the root filesystems they run from; any other image cannot be pulled. */
  readonly images: Readonly<Record<string, KubernetesTestImage>>;
  /** The one namespace served; `cairn` by default. Any other is refused 403, as a namespaced Role refuses it. */
  readonly namespace?: string;
  /** The bearer token requests must carry; a random one by default (`kubeConfig()` carries it). */
  readonly token?: string;
  /** How long the scheduler takes to bind a pod; 5 ms by default. */
  readonly schedulingDelayMs?: number;
  /** The first image-pull back-off (doubling, at most 5 minutes, as the kubelet's from 10 s); 200 ms by default. */
  readonly imagePullBackOffMs?: number;
  /** The first crash-loop back-off of a restarted container (doubling, at most 5 minutes); 10 s by default, as the kubelet's. */
  readonly restartBackOffMs?: number;
  /** How often the kubelet tries again a container whose secret is missing; 100 ms by default. */
  readonly configRetryMs?: number;
  /** How many events the watch history keeps (etcd's compaction); 1000 by default. */
  readonly watchHistoryLimit?: number;
  /** How often a watch that allows bookmarks gets one; 60 s by default, as the API server's. */
  readonly bookmarkIntervalMs?: number;
  /**
   * CustomResourceDefinitions installed in the cluster: agent-sandbox's `sandboxclaims` and
   * `sandboxwarmpools` (extensions.agents.x-k8s.io) are served at v1beta1 when given, and every
   * object sent is checked against the CRD's `openAPIV3Schema`; without them their routes are 404,
   * as on a cluster without agent-sandbox. The controllers are not run: a claim is stored, not adopted.
   */
  readonly customResourceDefinitions?: readonly CustomResourceDefinitionDocument[];
  /** How long the garbage collector takes to collect dependents of a deleted owner; 10 ms by default. */
  readonly garbageCollectionDelayMs?: number;
  /** The node's name (`spec.nodeName`); `cairn-test-node` by default. */
  readonly nodeName?: string;
  /** The bubblewrap binary; `/usr/bin/bwrap` by default. */
  readonly bwrap?: string;
  /** Where the v1 memory controller is mounted; `/sys/fs/cgroup/memory` by default. */
  readonly memoryCgroupRoot?: string;
}

/** One request as the endpoint received it, with the status it answered (200 for a watch, whatever its events). */
export interface KubernetesRecordedRequest {
  readonly method: string;
  /** The URL path, without the query. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The parsed JSON body (undefined without one). */
  readonly body: unknown;
  status: number;
}

/** Pods a test hook applies to: by name, by label selector, or (neither given) every pod. */
export interface PodMatch {
  readonly name?: string;
  readonly labelSelector?: string;
}

/** The resources served. */
export type KubernetesTestResource = 'pods' | 'secrets' | 'networkpolicies' | CustomTestResource;

/** The agent-sandbox resources the endpoint serves when their CustomResourceDefinitions are installed (`customResourceDefinitions`). */
type CustomTestResource = 'sandboxes' | 'sandboxclaims' | 'sandboxwarmpools' | 'sandboxtemplates';

type KubernetesObject = Record<string, unknown> & { metadata: ObjectMeta };

interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  generation?: number;
}

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

interface WatchEvent {
  readonly revision: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resource: KubernetesTestResource;
  readonly object: KubernetesObject;
  readonly previous: KubernetesObject | undefined;
}

interface OpenWatch {
  readonly resource: KubernetesTestResource;
  readonly matches: (object: KubernetesObject) => boolean;
  readonly response: ServerResponse;
  readonly timers: NodeJS.Timeout[];
}

const descriptors = {
  pods: { kind: 'Pod', apiVersion: 'v1', group: undefined, listKind: 'PodList' },
  secrets: { kind: 'Secret', apiVersion: 'v1', group: undefined, listKind: 'SecretList' },
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', group: 'networking.k8s.io', listKind: 'NetworkPolicyList' },
  // Served at v1beta1 (the version agent-sandbox stores) only when their CRDs are installed.
  sandboxclaims: { kind: 'SandboxClaim', apiVersion: 'extensions.agents.x-k8s.io/v1beta1', group: 'extensions.agents.x-k8s.io', listKind: 'SandboxClaimList' },
  sandboxwarmpools: {
    kind: 'SandboxWarmPool',
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    group: 'extensions.agents.x-k8s.io',
    listKind: 'SandboxWarmPoolList',
  },
  sandboxtemplates: {
    kind: 'SandboxTemplate',
    apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
    group: 'extensions.agents.x-k8s.io',
    listKind: 'SandboxTemplateList',
  },
  sandboxes: { kind: 'Sandbox', apiVersion: 'agents.x-k8s.io/v1beta1', group: 'agents.x-k8s.io', listKind: 'SandboxList' },
} as const satisfies Record<
  KubernetesTestResource,
  {
    kind: StoredKind | 'Sandbox' | 'SandboxClaim' | 'SandboxWarmPool' | 'SandboxTemplate';
    apiVersion: string;
    group: string | undefined;
    listKind: string;
  }
>;

const customResources: readonly KubernetesTestResource[] = ['sandboxes', 'sandboxclaims', 'sandboxwarmpools', 'sandboxtemplates'];
const isCustom = (resource: KubernetesTestResource): resource is CustomTestResource => customResources.includes(resource);

type ContainerState =
  | { readonly waiting: { readonly reason: string; readonly message?: string } }
  | { readonly running: { readonly startedAt: string } }
  | { readonly terminated: Terminated };

interface Terminated {
  readonly exitCode: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: string;
  readonly finishedAt: string;
  readonly containerID?: string;
}

/** What the kubelet knows of one container of a pod. */
interface ContainerRuntime {
  readonly name: string;
  state: ContainerState;
  lastState: { terminated: Terminated } | Record<string, never>;
  restartCount: number;
  started: boolean;
  containerID?: string;
  imageID?: string;
  process?: ContainerProcess;
  /** Its process runs (started, not exited yet). */
  alive: boolean;
  output: string;
  backOffMs: number;
}

/** What the scheduler and the kubelet know of one pod (its status is derived from it). */
interface PodRuntime {
  readonly uid: string;
  readonly name: string;
  bound: boolean;
  unschedulable: string | undefined;
  startTime?: string;
  containers: ContainerRuntime[];
  failure?: { reason: string; message: string; disruption?: { reason: string; message: string } };
  transitions: Map<string, { status: string; time: string }>;
  timers: Set<NodeJS.Timeout>;
  folder?: string;
  /** Its downwardAPI volumes, rewritten when the pod's metadata changes. */
  downward?: { folder: string; source: DownwardApiVolumeSource }[];
  gracePeriodMs?: number;
  stopping: boolean;
}

const now = () => new Date(Math.floor(Date.now() / 1_000) * 1_000).toISOString().replace('.000Z', 'Z');
const clone = <T>(value: T): T => structuredClone(value);
const maximumBackOffMs = 300_000;

/** A Kubernetes API endpoint on 127.0.0.1 whose pods run under bubblewrap; see the header of this file. */
export class KubernetesTestEndpoint {
  readonly requests: KubernetesRecordedRequest[] = [];
  readonly #options: KubernetesTestEndpointOptions;
  readonly #namespace: string;
  readonly #token: string;
  readonly #server: Server;
  readonly #objects: Record<KubernetesTestResource, Map<string, KubernetesObject>> = {
    pods: new Map(),
    secrets: new Map(),
    networkpolicies: new Map(),
    sandboxclaims: new Map(),
    sandboxwarmpools: new Map(),
    sandboxtemplates: new Map(),
    sandboxes: new Map(),
  };
  /** The schemas of the installed CRDs this endpoint serves (their v1beta1 `openAPIV3Schema`). */
  readonly #customSchemas = new Map<CustomTestResource, StructuralSchema>();
  readonly #pods = new Map<string, PodRuntime>();
  /** The runtimes of deleted pods by name (the last of a name), for their output. */
  readonly #removed = new Map<string, PodRuntime>();
  readonly #history: WatchEvent[] = [];
  /** The last state of each deleted object, by name: what `lastSeen` answers once it is gone. */
  readonly #deleted: Record<KubernetesTestResource, Map<string, KubernetesObject>> = {
    pods: new Map(),
    secrets: new Map(),
    networkpolicies: new Map(),
    sandboxclaims: new Map(),
    sandboxwarmpools: new Map(),
    sandboxtemplates: new Map(),
    sandboxes: new Map(),
  };
  readonly #watches = new Set<OpenWatch>();
  readonly #holds: { match: PodMatch; message: string }[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #folder: string;
  #revision = 1;
  #compactedThrough = 1;
  #containerStarts = 0;
  #memoryEnforced: boolean | undefined;
  #url = '';
  #stopped = false;

  private constructor(options: KubernetesTestEndpointOptions) {
    this.#options = options;
    this.#namespace = options.namespace ?? 'cairn';
    this.#token = options.token ?? randomBytes(24).toString('base64url');
    this.#folder = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-endpoint-'));
    chmodSync(this.#folder, 0o755);
    this.#server = createServer((request, response) => void this.#handle(request, response));
    for (const definition of options.customResourceDefinitions ?? []) {
      const resource = (Object.keys(descriptors) as KubernetesTestResource[]).find(
        (candidate) => isCustom(candidate) && descriptors[candidate].group === definition.spec.group && candidate === definition.spec.names.plural,
      );
      const version = definition.spec.versions.find((candidate) => candidate.name === 'v1beta1' && candidate.served !== false);
      if (resource === undefined || !isCustom(resource) || version === undefined)
        throw new Error(`the endpoint serves no ${definition.spec.names.plural}.${definition.spec.group} at v1beta1`);
      this.#customSchemas.set(resource, version.schema.openAPIV3Schema);
    }
  }

  static async start(options: KubernetesTestEndpointOptions): Promise<KubernetesTestEndpoint> {
    const endpoint = new KubernetesTestEndpoint(options);
    await new Promise<void>((resolve) => endpoint.#server.listen(0, '127.0.0.1', resolve));
    endpoint.#url = `http://127.0.0.1:${(endpoint.#server.address() as AddressInfo).port}`;
    return endpoint;
  }

  /** `http://127.0.0.1:<port>`: the cluster's server. */
  get url(): string {
    return this.#url;
  }

  /** The namespace served. */
  get namespace(): string {
    return this.#namespace;
  }

  /** The bearer token requests must carry. */
  get token(): string {
    return this.#token;
  }

  /** The current resourceVersion (the last write's revision). */
  get resourceVersion(): string {
    return String(this.#revision);
  }

  /** How many watches are open now. */
  get openWatches(): number {
    return this.#watches.size;
  }

  /** How many container processes were started in all (the oracle's count of attempts run). */
  get containerStarts(): number {
    return this.#containerStarts;
  }

  /** Whether memory limits were enforced by a cgroup (undefined until a container with a limit ran). */
  get memoryLimitsEnforced(): boolean | undefined {
    return this.#memoryEnforced;
  }

  /** A KubeConfig for this endpoint: one cluster, a token user, the served namespace as the context's. */
  kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      // Plain HTTP on loopback: the client accepts an http:// server only with skipTLSVerify set.
      clusters: [{ name: 'cairn-test', server: this.#url, skipTLSVerify: true }],
      users: [{ name: 'cairn-test', token: this.#token }],
      contexts: [{ name: 'cairn-test', cluster: 'cairn-test', user: 'cairn-test', namespace: this.#namespace }],
      currentContext: 'cairn-test',
    });
    return config;
  }

  /** A stored object as it is now (a copy), or undefined: the oracle a test reads beside the client. */
  object(resource: KubernetesTestResource, name: string): Record<string, unknown> | undefined {
    const object = this.#objects[resource].get(name);
    return object ? clone(object) : undefined;
  }

  /**
   * An object as it is now, or as it was when it was deleted (the last deleted of that name), or
   * undefined if there never was one: for reading what the executor made after it cleaned up.
   */
  lastSeen(resource: KubernetesTestResource, name: string): Record<string, unknown> | undefined {
    const object = this.#objects[resource].get(name) ?? this.#deleted[resource].get(name);
    return object ? clone(object) : undefined;
  }

  /** Whether an object of that name was deleted (and none made again since). */
  wasDeleted(resource: KubernetesTestResource, name: string): boolean {
    return !this.#objects[resource].has(name) && this.#deleted[resource].has(name);
  }

  /** What a pod's container wrote to stdout and stderr (its current or last run; kept after the pod is deleted). */
  output(podName: string, container?: string): string {
    const runtime = this.#runtimeByName(podName) ?? this.#removed.get(podName);
    const run = container === undefined ? runtime?.containers[0] : runtime?.containers.find((candidate) => candidate.name === container);
    return run?.output ?? '';
  }

  /**
   * Keeps matching pods from being scheduled, as a cluster without room does: they stay Pending
   * with `PodScheduled=False, reason Unschedulable` and `message`, until `release()` (then the
   * scheduler binds them, as it retries).
   */
  holdScheduling(
    match: PodMatch = {},
    message = '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
  ): { release(): void } {
    const hold = { match, message };
    this.#holds.push(hold);
    for (const runtime of this.#pods.values()) if (!runtime.bound) this.#schedule(runtime);
    return {
      release: () => {
        const index = this.#holds.indexOf(hold);
        if (index !== -1) this.#holds.splice(index, 1);
        for (const runtime of this.#pods.values()) if (!runtime.bound) this.#schedule(runtime);
      },
    };
  }

  /**
   * Evicts a pod as the kubelet does under node pressure: its containers are killed (no grace
   * period), the pod ends Failed with reason Evicted, a DisruptionTarget condition and `message`.
   * The pod object stays, as an evicted pod does until it is deleted.
   */
  evict(
    podName: string,
    message = 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container main was using 1Gi, request is 0, has larger consumption of memory.',
  ): void {
    const runtime = this.#runtimeByName(podName);
    if (!runtime) throw new Error(`no pod ${podName}`);
    if (!runtime.bound) throw new Error(`pod ${podName} is not bound to the node: only the kubelet evicts, and only its own pods`);
    this.#fail(runtime, { reason: 'Evicted', message, disruption: { reason: 'TerminationByKubelet', message } }, 0);
  }

  /** Ends every open watch (`end`: the server closes the stream, as on its timeout; `reset`: the connection is cut). Returns how many. */
  dropWatches(how: 'end' | 'reset' = 'end'): number {
    const count = this.#watches.size;
    for (const watch of [...this.#watches]) this.#closeWatch(watch, how);
    return count;
  }

  /** Forgets every event so far, as etcd's compaction does: a watch from an older resourceVersion gets 410 Expired. */
  compactHistory(): void {
    this.#history.length = 0;
    this.#compactedThrough = this.#revision;
  }

  /** Resolves with a pod once `predicate` holds for it (polled every 10 ms). */
  async waitForPod(name: string, predicate: (pod: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pod = this.#objects.pods.get(name);
      if (pod && predicate(pod)) return clone(pod);
      if (Date.now() > deadline) throw new Error(`pod ${name} did not reach the state awaited in ${timeoutMs} ms: ${JSON.stringify(pod?.['status'])}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills every container, ends every watch, closes the endpoint and removes its folders. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const runtime of this.#pods.values()) {
      for (const timer of runtime.timers) clearTimeout(timer);
      for (const container of runtime.containers) container.process?.kill();
    }
    await Promise.all(
      [...this.#pods.values()].flatMap((runtime) => runtime.containers.flatMap((container) => (container.process ? [container.process.exited] : []))),
    );
    for (const watch of [...this.#watches]) this.#closeWatch(watch, 'reset');
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#folder, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- HTTP

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'http://endpoint');
    const raw = Buffer.concat(chunks).toString('utf8');
    const recorded: KubernetesRecordedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: undefined,
      status: 0,
    };
    this.requests.push(recorded);
    const reply = (status: number, body: unknown) => {
      recorded.status = status;
      const text = JSON.stringify(body);
      response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'audit-id': randomUUID() });
      response.end(text);
    };
    try {
      if (raw.length > 0) {
        try {
          (recorded as { body: unknown }).body = JSON.parse(raw);
        } catch (error) {
          throw badRequest(`couldn't get version/kind; json parse error: ${(error as Error).message}`);
        }
      }
      if (request.headers.authorization !== `Bearer ${this.#token}`) throw new KubernetesStatusError(401, 'Unauthorized', 'Unauthorized');
      const served = this.#serve(recorded, request, response);
      if (served !== undefined) reply(served.status, served.body);
    } catch (error) {
      if (error instanceof KubernetesStatusError) reply(error.code, error.status());
      else reply(500, new KubernetesStatusError(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`).status());
    }
  }

  /** Serves one request: an answer, or undefined when it streams (a watch, a log). */
  #serve(recorded: KubernetesRecordedRequest, request: IncomingMessage, response: ServerResponse): { status: number; body: unknown } | undefined {
    const { method, path, query } = recorded;
    if (path === '/version' && method === 'GET') {
      return { status: 200, body: { major: '1', minor: '33', gitVersion: 'v1.33.0-cairn-test', platform: 'linux/amd64' } };
    }
    const route =
      /^\/api\/v1\/(watch\/)?(?:namespaces\/([^/]+)\/)?(pods|secrets)(?:\/([^/]+)(?:\/(log|status))?)?$/.exec(path) ??
      /^\/apis\/networking\.k8s\.io\/v1\/(watch\/)?(?:namespaces\/([^/]+)\/)?(networkpolicies)(?:\/([^/]+)())?$/.exec(path) ??
      /^\/apis\/extensions\.agents\.x-k8s\.io\/v1beta1\/(watch\/)?(?:namespaces\/([^/]+)\/)?(sandboxclaims|sandboxwarmpools|sandboxtemplates)(?:\/([^/]+)(?:\/(status))?)?$/.exec(
        path,
      ) ??
      /^\/apis\/agents\.x-k8s\.io\/v1beta1\/(watch\/)?(?:namespaces\/([^/]+)\/)?(sandboxes)(?:\/([^/]+)(?:\/(status))?)?$/.exec(path);
    // A cluster without the CRD does not know the route at all.
    if (!route || (isCustom(route[3] as KubernetesTestResource) && !this.#customSchemas.has(route[3] as CustomTestResource)))
      throw new KubernetesStatusError(404, 'NotFound', 'the server could not find the requested resource', {});
    const [, watchPrefix, namespace, resource, name, subresource] = route as unknown as [
      string,
      string | undefined,
      string | undefined,
      KubernetesTestResource,
      string | undefined,
      string | undefined,
    ];
    const watch = watchPrefix !== undefined || query['watch'] === 'true' || query['watch'] === '1';
    const verb =
      method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : watch
                ? 'watch'
                : name
                  ? 'get'
                  : 'list';
    if (namespace !== this.#namespace) {
      const group = descriptors[resource].group ?? '';
      const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      throw new KubernetesStatusError(
        403,
        'Forbidden',
        `${resource}${subresource ? `/${subresource}` : ''} is forbidden: User "system:serviceaccount:${this.#namespace}:cairn-server" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`,
        { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource },
      );
    }
    if (subresource === 'log') {
      if (method !== 'GET') throw methodNotAllowed();
      return this.#log(name!, query, recorded, response);
    }
    if (subresource === 'status') {
      // The CRDs' status subresource: a controller writes status there; the pod's is the kubelet's own.
      if (!isCustom(resource) || (method !== 'PUT' && method !== 'GET')) throw methodNotAllowed();
      if (method === 'GET') return { status: 200, body: this.#read(resource, name!) };
      return { status: 200, body: this.#updateStatus(resource, name!, requireBody(recorded.body as Record<string, unknown> | undefined)) };
    }
    const body = recorded.body as Record<string, unknown> | undefined;
    switch (verb) {
      case 'create':
        if (name) throw methodNotAllowed();
        return { status: 201, body: this.#create(resource, requireBody(body), query['dryRun'] === 'All') };
      case 'get':
        return { status: 200, body: this.#read(resource, name!) };
      case 'list':
        return { status: 200, body: this.#list(resource, query) };
      case 'watch':
        this.#watch(resource, name, query, recorded, response);
        return undefined;
      case 'update':
        return { status: 200, body: this.#update(resource, name!, requireBody(body)) };
      case 'patch':
        return { status: 200, body: this.#patch(resource, name!, requireBody(body), String(request.headers['content-type'] ?? '')) };
      case 'delete':
        return this.#delete(resource, name!, query, body);
      default:
        throw methodNotAllowed();
    }
  }

  // ---------------------------------------------------------------- reads

  #read(resource: KubernetesTestResource, name: string): KubernetesObject {
    const object = this.#objects[resource].get(name);
    if (!object) throw notFound(resource, name, descriptors[resource].group);
    return this.#answer(resource, object);
  }

  #list(resource: KubernetesTestResource, query: Readonly<Record<string, string>>): Record<string, unknown> {
    const matches = selection(query);
    const items = [...this.#objects[resource].values()]
      .filter(matches)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      // Items of a list carry no kind nor apiVersion: the list's kind says them.
      .map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => clone(item));
    return { kind: descriptors[resource].listKind, apiVersion: descriptors[resource].apiVersion, metadata: { resourceVersion: String(this.#revision) }, items };
  }

  #log(name: string, query: Readonly<Record<string, string>>, recorded: KubernetesRecordedRequest, response: ServerResponse): undefined {
    const runtime = this.#runtimeByName(name);
    if (!runtime) throw notFound('pods', name);
    const containerName = query['container'] ?? runtime.containers[0]!.name;
    const container = runtime.containers.find((candidate) => candidate.name === containerName);
    if (!container) throw badRequest(`container ${containerName} is not valid for pod ${name}`);
    if (!container.started && 'waiting' in container.state) {
      throw badRequest(`container "${containerName}" in pod "${name}" is waiting to start: ${container.state.waiting.reason}`);
    }
    recorded.status = 200;
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(container.output);
    return undefined;
  }

  // ---------------------------------------------------------------- watches

  #watch(
    resource: KubernetesTestResource,
    name: string | undefined,
    query: Readonly<Record<string, string>>,
    recorded: KubernetesRecordedRequest,
    response: ServerResponse,
  ): void {
    const selected = selection(query);
    const matches = name === undefined ? selected : (object: KubernetesObject) => object.metadata.name === name && selected(object);
    const requested = query['resourceVersion'];
    if (requested !== undefined && requested !== '' && requested !== '0' && !/^\d+$/.test(requested)) {
      throw badRequest(`resourceVersion: Invalid value: ${JSON.stringify(requested)}: must be a number`);
    }
    recorded.status = 200;
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    response.flushHeaders();
    const watch: OpenWatch = { resource, matches, response, timers: [] };
    const send = (event: unknown) => response.write(`${JSON.stringify(event)}\n`);
    if (requested === undefined || requested === '' || requested === '0') {
      // "Get state and start at most recent": every object as ADDED, then what happens next.
      for (const object of [...this.#objects[resource].values()].filter(matches)) send({ type: 'ADDED', object: this.#answer(resource, object) });
    } else {
      const since = Number(requested);
      if (since < this.#compactedThrough) {
        // The watch cache answers 200 and sends the 410 as an ERROR event, then ends the stream.
        send({ type: 'ERROR', object: expired(requested, this.#compactedThrough + 1).status() });
        response.end();
        return;
      }
      for (const event of this.#history) if (event.revision > since && event.resource === resource) this.#deliver(watch, event);
    }
    if (query['allowWatchBookmarks'] === 'true') {
      const interval = setInterval(() => send(this.#bookmark(resource)), this.#options.bookmarkIntervalMs ?? 60_000);
      watch.timers.push(interval);
    }
    const timeoutSeconds = Number(query['timeoutSeconds'] ?? 0);
    if (timeoutSeconds > 0) watch.timers.push(setTimeout(() => this.#closeWatch(watch, 'end'), timeoutSeconds * 1_000));
    this.#watches.add(watch);
    response.once('close', () => this.#closeWatch(watch, 'end'));
  }

  #bookmark(resource: KubernetesTestResource): Record<string, unknown> {
    return {
      type: 'BOOKMARK',
      object: { kind: descriptors[resource].kind, apiVersion: descriptors[resource].apiVersion, metadata: { resourceVersion: String(this.#revision) } },
    };
  }

  /** Sends an event to a watch as the watch cache does for a selector: a change into or out of it is ADDED or DELETED. */
  #deliver(watch: OpenWatch, event: WatchEvent): void {
    if (event.resource !== watch.resource) return;
    const now = watch.matches(event.object);
    const before = event.previous !== undefined && watch.matches(event.previous);
    let type: WatchEvent['type'] | undefined;
    if (event.type === 'DELETED') type = now ? 'DELETED' : undefined;
    else if (event.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else type = now && before ? 'MODIFIED' : now ? 'ADDED' : before ? 'DELETED' : undefined;
    if (type === undefined) return;
    watch.response.write(`${JSON.stringify({ type, object: this.#answer(event.resource, event.object) })}\n`);
  }

  #closeWatch(watch: OpenWatch, how: 'end' | 'reset'): void {
    if (!this.#watches.delete(watch)) return;
    for (const timer of watch.timers) clearTimeout(timer);
    if (how === 'reset') watch.response.socket?.destroy();
    else watch.response.end();
  }

  // ---------------------------------------------------------------- writes

  /** Stores a change under the next revision and tells the watches. */
  #commit(resource: KubernetesTestResource, type: WatchEvent['type'], object: KubernetesObject, previous?: KubernetesObject): KubernetesObject {
    this.#revision += 1;
    object.metadata.resourceVersion = String(this.#revision);
    this.#checkAnswer(resource, object);
    if (type === 'DELETED') {
      this.#objects[resource].delete(object.metadata.name);
      this.#deleted[resource].set(object.metadata.name, clone(object));
    } else this.#objects[resource].set(object.metadata.name, object);
    const event: WatchEvent = { revision: this.#revision, type, resource, object: clone(object), previous: previous ? clone(previous) : undefined };
    this.#history.push(event);
    const limit = this.#options.watchHistoryLimit ?? 1_000;
    while (this.#history.length > limit) this.#compactedThrough = this.#history.shift()!.revision;
    for (const watch of this.#watches) this.#deliver(watch, event);
    if (type === 'DELETED') this.#after(this.#options.garbageCollectionDelayMs ?? 10, () => this.#collectDependentsOf(object.metadata.uid));
    if (resource === 'secrets' && type !== 'DELETED') for (const runtime of this.#pods.values()) this.#retryWaitingContainers(runtime);
    if (resource === 'pods' && type === 'MODIFIED') this.#refreshDownwardVolumes(object, previous);
    return object;
  }

  /** The kubelet's sync: a pod whose labels or annotations changed gets its downwardAPI files rewritten. */
  #refreshDownwardVolumes(pod: KubernetesObject, previous: KubernetesObject | undefined): void {
    const runtime = this.#pods.get(pod.metadata.uid);
    if (!runtime?.downward || runtime.stopping) return;
    const metadataOf = (object: KubernetesObject | undefined) => JSON.stringify([object?.metadata.labels ?? {}, object?.metadata.annotations ?? {}]);
    if (metadataOf(pod) === metadataOf(previous)) return;
    for (const volume of runtime.downward) writeDownwardApiVolume(volume.folder, volume.source, pod.metadata);
  }

  #create(resource: KubernetesTestResource, body: Record<string, unknown>, dryRun: boolean): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.namespace !== undefined && metadata.namespace !== this.#namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '')
      throw badRequest('resourceVersion should not be set on objects to be created');
    const name = metadata.name || (metadata.generateName ? `${metadata.generateName}${randomBytes(4).toString('hex').slice(0, 5)}` : '');
    const causes = this.#validate(resource, { ...body, metadata: { ...metadata, ...(name ? { name } : {}) } });
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    if (this.#objects[resource].has(name)) throw alreadyExists(resource, name, descriptor.group);
    const {
      uid: _uid,
      resourceVersion: _resourceVersion,
      creationTimestamp: _creationTimestamp,
      deletionTimestamp: _deletionTimestamp,
      deletionGracePeriodSeconds: _deletionGracePeriodSeconds,
      ...given
    } = metadata;
    const object = clone({
      ...body,
      apiVersion: descriptor.apiVersion,
      kind: descriptor.kind,
      metadata: {
        ...given,
        name,
        namespace: this.#namespace,
        uid: randomUUID(),
        resourceVersion: '',
        creationTimestamp: now(),
        ...(resource === 'networkpolicies' ? { generation: 1 } : {}),
      },
    }) as KubernetesObject;
    if (resource === 'secrets') normaliseSecret(object);
    if (resource === 'pods') defaultPod(object);
    // With a status subresource, a create's status is dropped: the controller writes it.
    if (isCustom(resource)) delete object['status'];
    if (dryRun) {
      this.#checkAnswer(resource, object);
      return this.#answer(resource, object);
    }
    this.#commit(resource, 'ADDED', object);
    // An owner that does not exist: the garbage collector deletes the dependent, as it would find.
    if ((object.metadata.ownerReferences ?? []).length > 0)
      this.#after(this.#options.garbageCollectionDelayMs ?? 10, () => this.#collectIfOrphaned(resource, name));
    if (resource === 'pods') this.#admit(object);
    return this.#answer(resource, object);
  }

  #update(resource: KubernetesTestResource, name: string, body: Record<string, unknown>): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const current = this.#objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.name !== undefined && metadata.name !== name)
      throw badRequest(`the name of the object (${metadata.name}) does not match the name on the URL (${name})`);
    if (metadata.namespace !== undefined && metadata.namespace !== this.#namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (metadata.uid !== undefined && metadata.uid !== current.metadata.uid) {
      throw new KubernetesStatusError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${metadata.uid}, UID in object meta: ${current.metadata.uid}`,
        {
          name,
          kind: resource,
        },
      );
    }
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '' && metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    const causes = this.#validate(resource, { ...body, metadata: { ...metadata, name } }, current);
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    const next = clone({
      ...body,
      apiVersion: descriptor.apiVersion,
      kind: descriptor.kind,
      metadata: {
        ...metadata,
        name,
        namespace: this.#namespace,
        uid: current.metadata.uid,
        resourceVersion: current.metadata.resourceVersion,
        creationTimestamp: current.metadata.creationTimestamp,
        ...(current.metadata.deletionTimestamp ? { deletionTimestamp: current.metadata.deletionTimestamp } : {}),
        ...(current.metadata.deletionGracePeriodSeconds !== undefined ? { deletionGracePeriodSeconds: current.metadata.deletionGracePeriodSeconds } : {}),
      },
    }) as KubernetesObject;
    if (resource === 'secrets') {
      normaliseSecret(next);
      if (current['immutable'] === true && (JSON.stringify(next['data'] ?? {}) !== JSON.stringify(current['data'] ?? {}) || next['immutable'] !== true)) {
        throw invalid('Secret', name, [{ reason: 'FieldValueForbidden', message: 'Forbidden: field is immutable when `immutable` is set', field: 'data' }]);
      }
    }
    if (resource === 'pods') {
      // The status is the kubelet's (its own subresource); the spec is immutable but for images and a shorter deadline.
      defaultPod(next);
      next['status'] = current['status'];
      const spec = clone(current['spec']) as { containers: { image: string }[]; activeDeadlineSeconds?: number | undefined; nodeName?: string | undefined };
      const nextSpec = next['spec'] as typeof spec;
      nextSpec.nodeName ??= spec.nodeName;
      for (const [index, container] of spec.containers.entries()) if (nextSpec.containers[index]) container.image = nextSpec.containers[index].image;
      spec.activeDeadlineSeconds = nextSpec.activeDeadlineSeconds;
      if (JSON.stringify(canonical(spec)) !== JSON.stringify(canonical(nextSpec))) {
        throw invalid('Pod', name, [
          {
            reason: 'FieldValueForbidden',
            message:
              'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
            field: 'spec',
          },
        ]);
      }
    }
    // With a status subresource, a write of the object leaves its status as it was.
    if (isCustom(resource)) {
      if (current['status'] === undefined) delete next['status'];
      else next['status'] = current['status'];
    }
    if (resource === 'networkpolicies') {
      const changed = JSON.stringify(canonical(next['spec'])) !== JSON.stringify(canonical(current['spec']));
      next.metadata.generation = (current.metadata.generation ?? 1) + (changed ? 1 : 0);
    }
    this.#commit(resource, 'MODIFIED', next, current);
    if (next.metadata.deletionTimestamp && (next.metadata.finalizers ?? []).length === 0) this.#removeWhenDone(resource, name);
    return this.#answer(resource, next);
  }

  /** PUT of the status subresource: only `status` changes, after the same checks as an update. */
  #updateStatus(resource: KubernetesTestResource, name: string, body: Record<string, unknown>): KubernetesObject {
    const descriptor = descriptors[resource];
    checkTypeMeta(resource, body);
    const current = this.#objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    const metadata = (body['metadata'] ?? {}) as Partial<ObjectMeta>;
    if (metadata.resourceVersion !== undefined && metadata.resourceVersion !== '' && metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    const next = clone(current);
    if (body['status'] === undefined) delete next['status'];
    else next['status'] = clone(body['status']);
    const causes = this.#validate(resource, next, current);
    if (causes.length > 0) throw invalid(descriptor.kind, name, causes, descriptor.group);
    this.#commit(resource, 'MODIFIED', next, current);
    return this.#answer(resource, next);
  }

  #patch(resource: KubernetesTestResource, name: string, patch: Record<string, unknown> | unknown[], contentType: string): KubernetesObject {
    const current = this.#objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptors[resource].group);
    const type = contentType.split(';')[0]!.trim();
    let patched: unknown;
    if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') {
      // A strategic merge patch merges lists by their keys; here they are replaced whole (as a merge patch does).
      if (Array.isArray(patch)) throw badRequest('a merge patch must be a JSON object');
      patched = mergePatch(clone(current), patch);
    } else if (type === 'application/json-patch+json') {
      if (!Array.isArray(patch)) throw badRequest('a JSON patch must be a JSON array of operations');
      patched = jsonPatch(clone(current), patch as JsonPatchOperation[]);
    } else {
      throw new KubernetesStatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    return this.#update(resource, name, patched as Record<string, unknown>);
  }

  #delete(
    resource: KubernetesTestResource,
    name: string,
    query: Readonly<Record<string, string>>,
    body: Record<string, unknown> | undefined,
  ): { status: number; body: unknown } {
    const descriptor = descriptors[resource];
    if (body !== undefined) {
      const causes = validateObject('DeleteOptions', body);
      if (causes.length > 0) throw invalid('DeleteOptions', '', causes);
    }
    const options = { ...(body ?? {}) } as {
      propagationPolicy?: string;
      gracePeriodSeconds?: number;
      orphanDependents?: boolean;
      preconditions?: { uid?: string; resourceVersion?: string };
    };
    if (query['propagationPolicy'] !== undefined) options.propagationPolicy = query['propagationPolicy'];
    if (query['gracePeriodSeconds'] !== undefined) options.gracePeriodSeconds = Number(query['gracePeriodSeconds']);
    if (query['orphanDependents'] !== undefined) options.orphanDependents = query['orphanDependents'] === 'true';
    const policy = options.propagationPolicy ?? (options.orphanDependents ? 'Orphan' : 'Background');
    if (!['Foreground', 'Background', 'Orphan'].includes(policy)) {
      throw invalid('DeleteOptions', '', [
        {
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan"`,
          field: 'propagationPolicy',
        },
      ]);
    }
    const current = this.#objects[resource].get(name);
    if (!current) throw notFound(resource, name, descriptor.group);
    if (options.preconditions?.uid !== undefined && options.preconditions.uid !== current.metadata.uid) {
      throw new KubernetesStatusError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${options.preconditions.uid}, UID in object meta: ${current.metadata.uid}`,
        {
          name,
          kind: resource,
        },
      );
    }
    if (options.preconditions?.resourceVersion !== undefined && options.preconditions.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(resource, name, descriptor.group);
    }
    if (policy === 'Orphan') this.#orphanDependentsOf(current.metadata.uid);
    const runtime = resource === 'pods' ? this.#pods.get(current.metadata.uid) : undefined;
    // The pod strategy's rule: graceful for a pod bound to a node that has not ended, unless told 0.
    const phase = (current['status'] as { phase?: string } | undefined)?.phase;
    const spec = current['spec'] as PodSpec | undefined;
    const graceSeconds =
      options.gracePeriodSeconds ?? (current['spec'] as { terminationGracePeriodSeconds?: number } | undefined)?.terminationGracePeriodSeconds ?? 30;
    const running = resource === 'pods' && spec?.nodeName !== undefined && phase !== 'Succeeded' && phase !== 'Failed' && graceSeconds > 0;
    const foreground = policy === 'Foreground' && this.#dependentsOf(current.metadata.uid).length > 0;
    if (!current.metadata.deletionTimestamp && (foreground || running || (current.metadata.finalizers ?? []).length > 0)) {
      // Graceful: the object stays, marked, until the kubelet has stopped it and its finalizers are gone.
      const marked = clone(current);
      marked.metadata.deletionTimestamp = new Date(Date.now() + (running ? graceSeconds * 1_000 : 0)).toISOString().replace(/\.\d{3}Z$/, 'Z');
      marked.metadata.deletionGracePeriodSeconds = running ? graceSeconds : 0;
      if (foreground) marked.metadata.finalizers = [...new Set([...(marked.metadata.finalizers ?? []), 'foregroundDeletion'])];
      this.#commit(resource, 'MODIFIED', marked, current);
      if (foreground) for (const dependent of this.#dependentsOf(current.metadata.uid)) this.#deleteNow(dependent.resource, dependent.name, 'Background');
      if (runtime) this.#stopPod(runtime, graceSeconds * 1_000);
      this.#removeWhenDone(resource, name);
      if (!this.#objects[resource].has(name)) return { status: 200, body: this.#answer(resource, { ...marked }) };
      const answer = this.#answer(resource, this.#objects[resource].get(name)!);
      return { status: resource === 'pods' ? 200 : 202, body: answer };
    }
    if (current.metadata.deletionTimestamp) return { status: 202, body: this.#answer(resource, current) };
    if (runtime) this.#stopPod(runtime, 0);
    const removed = this.#remove(resource, name);
    // A pod's deletion answers the pod; other kinds answer a Success Status.
    if (resource === 'pods') return { status: 200, body: this.#answer(resource, removed) };
    return {
      status: 200,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, ...(descriptor.group ? { group: descriptor.group } : {}), kind: resource, uid: removed.metadata.uid },
      },
    };
  }

  /** Deletes an object on the server's own account (the garbage collector's), no grace beyond the pod's. */
  #deleteNow(resource: KubernetesTestResource, name: string, policy: 'Background' | 'Foreground'): void {
    const current = this.#objects[resource].get(name);
    if (!current || current.metadata.deletionTimestamp) return;
    try {
      this.#delete(resource, name, { propagationPolicy: policy }, undefined);
    } catch (error) {
      if (!(error instanceof KubernetesStatusError && error.code === 404)) throw error;
    }
  }

  #remove(resource: KubernetesTestResource, name: string): KubernetesObject {
    const current = this.#objects[resource].get(name)!;
    const removed = clone(current);
    this.#commit(resource, 'DELETED', removed, current);
    if (resource === 'pods') {
      const runtime = this.#pods.get(current.metadata.uid);
      if (runtime) {
        for (const timer of runtime.timers) clearTimeout(timer);
        if (runtime.folder) rmSync(runtime.folder, { recursive: true, force: true });
        this.#pods.delete(current.metadata.uid);
        this.#removed.set(current.metadata.name, runtime);
      }
    }
    return removed;
  }

  /** Removes a marked object once nothing holds it: its containers stopped, its dependents gone (foreground), its finalizers cleared. */
  #removeWhenDone(resource: KubernetesTestResource, name: string): void {
    const object = this.#objects[resource].get(name);
    if (!object?.metadata.deletionTimestamp) return;
    const runtime = resource === 'pods' ? this.#pods.get(object.metadata.uid) : undefined;
    if (runtime?.containers.some((container) => container.alive)) return;
    let finalizers = object.metadata.finalizers ?? [];
    if (finalizers.includes('foregroundDeletion')) {
      const blocking = this.#dependentsOf(object.metadata.uid).filter((dependent) => dependent.reference.blockOwnerDeletion === true);
      if (blocking.length > 0) return;
      finalizers = finalizers.filter((finalizer) => finalizer !== 'foregroundDeletion');
      const next = clone(object);
      next.metadata.finalizers = finalizers;
      if (finalizers.length === 0) delete next.metadata.finalizers;
      this.#commit(resource, 'MODIFIED', next, object);
    }
    if (finalizers.length === 0) this.#remove(resource, name);
  }

  // ---------------------------------------------------------------- garbage collection

  #dependentsOf(uid: string): { resource: KubernetesTestResource; name: string; reference: OwnerReference }[] {
    const dependents: { resource: KubernetesTestResource; name: string; reference: OwnerReference }[] = [];
    for (const resource of Object.keys(this.#objects) as KubernetesTestResource[]) {
      for (const object of this.#objects[resource].values()) {
        const reference = object.metadata.ownerReferences?.find((candidate) => candidate.uid === uid);
        if (reference) dependents.push({ resource, name: object.metadata.name, reference });
      }
    }
    return dependents;
  }

  #ownerExists(uid: string): boolean {
    return Object.values(this.#objects).some((objects) => [...objects.values()].some((object) => object.metadata.uid === uid));
  }

  /** After an owner is gone: a dependent with no owner left is deleted (background), one with others left loses the reference. */
  #collectDependentsOf(uid: string): void {
    if (this.#stopped) return;
    for (const dependent of this.#dependentsOf(uid)) this.#collectIfOrphaned(dependent.resource, dependent.name);
    // An owner in foreground deletion waits for its dependents: look again at those marked.
    for (const resource of Object.keys(this.#objects) as KubernetesTestResource[]) {
      for (const object of [...this.#objects[resource].values()]) {
        if (object.metadata.finalizers?.includes('foregroundDeletion')) this.#removeWhenDone(resource, object.metadata.name);
      }
    }
  }

  #collectIfOrphaned(resource: KubernetesTestResource, name: string): void {
    const object = this.#objects[resource].get(name);
    if (!object || this.#stopped) return;
    const references = object.metadata.ownerReferences ?? [];
    const living = references.filter((reference) => this.#ownerExists(reference.uid));
    if (references.length === 0 || living.length === references.length) return;
    if (living.length === 0) {
      this.#deleteNow(resource, name, 'Background');
      return;
    }
    const next = clone(object);
    next.metadata.ownerReferences = living;
    this.#commit(resource, 'MODIFIED', next, object);
  }

  #orphanDependentsOf(uid: string): void {
    for (const dependent of this.#dependentsOf(uid)) {
      const object = this.#objects[dependent.resource].get(dependent.name)!;
      const next = clone(object);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter((reference) => reference.uid !== uid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      this.#commit(dependent.resource, 'MODIFIED', next, object);
    }
  }

  // ---------------------------------------------------------------- scheduler and kubelet

  #admit(pod: KubernetesObject): void {
    const spec = pod['spec'] as PodSpec;
    const runtime: PodRuntime = {
      uid: pod.metadata.uid,
      name: pod.metadata.name,
      bound: false,
      unschedulable: undefined,
      containers: spec.containers.map((container) => ({
        name: container.name,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
        restartCount: 0,
        started: false,
        alive: false,
        output: '',
        backOffMs: 0,
      })),
      transitions: new Map(),
      timers: new Set(),
      stopping: false,
    };
    this.#pods.set(runtime.uid, runtime);
    this.#podAfter(runtime, this.#options.schedulingDelayMs ?? 5, () => this.#schedule(runtime));
  }

  #schedule(runtime: PodRuntime): void {
    const pod = this.#podOf(runtime);
    if (!pod || runtime.bound || pod.metadata.deletionTimestamp) return;
    const hold = this.#holds.find((candidate) => podMatches(pod, candidate.match));
    if (hold) {
      if (runtime.unschedulable === hold.message) return;
      runtime.unschedulable = hold.message;
      this.#publish(runtime);
      return;
    }
    runtime.bound = true;
    runtime.unschedulable = undefined;
    // The binding sets spec.nodeName; the scheduler's condition comes with it.
    const bound = clone(pod);
    (bound['spec'] as PodSpec).nodeName = this.#options.nodeName ?? 'cairn-test-node';
    this.#commit('pods', 'MODIFIED', this.#withStatus(bound, runtime), pod);
    this.#podAfter(runtime, 1, () => this.#startPod(runtime));
  }

  #startPod(runtime: PodRuntime): void {
    const pod = this.#podOf(runtime);
    if (!pod || runtime.stopping) return;
    runtime.startTime = now();
    runtime.folder = mkdtempSync(join(this.#folder, `${runtime.name}-`));
    chmodSync(runtime.folder, 0o755);
    this.#publish(runtime);
    const deadline = (pod['spec'] as PodSpec).activeDeadlineSeconds;
    if (deadline !== undefined) {
      this.#podAfter(runtime, deadline * 1_000, () =>
        this.#fail(runtime, { reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' }, 0),
      );
    }
    for (const container of runtime.containers) this.#startContainer(runtime, container);
  }

  #startContainer(runtime: PodRuntime, container: ContainerRuntime): void {
    const pod = this.#podOf(runtime);
    if (!pod || runtime.stopping || runtime.failure) return;
    const spec = pod['spec'] as PodSpec;
    const containerSpec = spec.containers.find((candidate) => candidate.name === container.name)!;
    const image = this.#options.images[containerSpec.image];
    if (!image) {
      // Pulls fail, back off, fail again: ErrImagePull, then ImagePullBackOff, doubling.
      container.state = {
        waiting: {
          reason: 'ErrImagePull',
          message: `rpc error: code = NotFound desc = failed to pull and unpack image "${containerSpec.image}": failed to resolve reference "${containerSpec.image}": not found`,
        },
      };
      this.#publish(runtime);
      container.backOffMs = Math.min(maximumBackOffMs, container.backOffMs === 0 ? (this.#options.imagePullBackOffMs ?? 200) : container.backOffMs * 2);
      this.#podAfter(runtime, 10, () => {
        container.state = { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${containerSpec.image}"` } };
        this.#publish(runtime);
        this.#podAfter(runtime, container.backOffMs, () => this.#startContainer(runtime, container));
      });
      return;
    }
    let launch: LaunchPlan;
    try {
      launch = this.#launchOf(pod, runtime, containerSpec, image);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
      container.state = { waiting: { reason: error.reason, message: error.message } };
      this.#publish(runtime);
      if (error.retry) this.#podAfter(runtime, this.#options.configRetryMs ?? 100, () => this.#retryWaitingContainers(runtime));
      return;
    }
    const containerID = `containerd://${randomBytes(32).toString('hex')}`;
    const started = new ContainerProcess(
      {
        ...launch,
        image,
        hostname: pod.metadata.name,
        cgroupName: `${runtime.uid}-${container.name}-${container.restartCount}`,
        bwrap: this.#options.bwrap ?? '/usr/bin/bwrap',
        memoryCgroupRoot: this.#options.memoryCgroupRoot ?? '/sys/fs/cgroup/memory',
      },
      () => {
        this.#containerStarts += 1;
        container.started = true;
        container.state = { running: { startedAt: now() } };
        this.#publish(runtime);
      },
    );
    if (launch.memoryBytes !== undefined) this.#memoryEnforced = started.memoryEnforced;
    container.process = started;
    container.alive = true;
    container.containerID = containerID;
    container.imageID = `${containerSpec.image.split(':')[0]}@sha256:${createHash('sha256').update(image.rootfs).digest('hex')}`;
    container.output = '';
    const running = started;
    const outputTimer = setInterval(() => (container.output = running.output), 50);
    void started.exited.then((exit) => {
      clearInterval(outputTimer);
      container.alive = false;
      container.output = running.output;
      this.#containerExited(runtime, container, exit);
    });
  }

  #containerExited(runtime: PodRuntime, container: ContainerRuntime, exit: ContainerExit): void {
    if (this.#stopped) return;
    const startedAt = 'running' in container.state ? container.state.running.startedAt : undefined;
    const terminated: Terminated = {
      exitCode: exit.oomKilled ? 137 : exit.exitCode,
      reason: exit.oomKilled ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error',
      ...(startedAt ? { startedAt } : {}),
      finishedAt: now(),
      ...(container.containerID ? { containerID: container.containerID } : {}),
    };
    container.state = { terminated };
    const pod = this.#podOf(runtime);
    const policy = (pod?.['spec'] as PodSpec | undefined)?.restartPolicy ?? 'Always';
    const restarts = !runtime.stopping && !runtime.failure && (policy === 'Always' || (policy === 'OnFailure' && terminated.exitCode !== 0));
    if (restarts) {
      container.lastState = { terminated };
      container.restartCount += 1;
      container.backOffMs = Math.min(maximumBackOffMs, container.backOffMs === 0 ? (this.#options.restartBackOffMs ?? 10_000) : container.backOffMs * 2);
      container.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(container.backOffMs / 1_000)}s restarting failed container=${container.name} pod=${runtime.name}_${this.#namespace}(${runtime.uid})`,
        },
      };
      this.#podAfter(runtime, container.backOffMs, () => this.#startContainer(runtime, container));
    }
    this.#publish(runtime);
    if (pod?.metadata.deletionTimestamp) this.#removeWhenDone('pods', runtime.name);
  }

  /** Tries again the containers waiting for their configuration (a secret created since). */
  #retryWaitingContainers(runtime: PodRuntime): void {
    for (const container of runtime.containers) {
      if ('waiting' in container.state && container.state.waiting.reason === 'CreateContainerConfigError' && !container.alive) {
        this.#startContainer(runtime, container);
      }
    }
  }

  /** Ends a pod on the kubelet's account (evicted, past its deadline): containers killed, phase Failed with a reason. */
  #fail(runtime: PodRuntime, failure: NonNullable<PodRuntime['failure']>, gracePeriodMs: number): void {
    if (runtime.failure) return;
    runtime.failure = failure;
    this.#stopContainers(runtime, gracePeriodMs);
    this.#publish(runtime);
  }

  #stopPod(runtime: PodRuntime, gracePeriodMs: number): void {
    runtime.stopping = true;
    this.#stopContainers(runtime, gracePeriodMs);
    this.#publish(runtime);
  }

  #stopContainers(runtime: PodRuntime, gracePeriodMs: number): void {
    for (const timer of runtime.timers) clearTimeout(timer);
    runtime.timers.clear();
    for (const container of runtime.containers) {
      if (container.alive) container.process!.stop(gracePeriodMs);
    }
  }

  /** Writes the pod's status as the kubelet derives it from what it knows, when it changed. */
  #publish(runtime: PodRuntime): void {
    const pod = this.#podOf(runtime);
    if (!pod || this.#stopped) return;
    const next = this.#withStatus(clone(pod), runtime);
    if (JSON.stringify(next['status']) === JSON.stringify(pod['status'])) return;
    this.#commit('pods', 'MODIFIED', next, pod);
  }

  #withStatus(pod: KubernetesObject, runtime: PodRuntime): KubernetesObject {
    const spec = pod['spec'] as PodSpec;
    const previous = (pod['status'] ?? {}) as { qosClass?: string };
    const conditions: Record<string, unknown>[] = [];
    const condition = (type: string, status: 'True' | 'False', reason?: string, message?: string) => {
      const known = runtime.transitions.get(type);
      const time = known && known.status === status ? known.time : now();
      runtime.transitions.set(type, { status, time });
      conditions.push({ type, status, lastProbeTime: null, lastTransitionTime: time, ...(reason ? { reason } : {}), ...(message ? { message } : {}) });
    };
    if (!runtime.bound) {
      if (runtime.unschedulable) condition('PodScheduled', 'False', 'Unschedulable', runtime.unschedulable);
      pod['status'] = { phase: 'Pending', ...(conditions.length > 0 ? { conditions } : {}), qosClass: previous.qosClass };
      return pod;
    }
    const containers = runtime.containers;
    const restartPolicy = spec.restartPolicy ?? 'Always';
    const willRestart = (container: ContainerRuntime) =>
      'waiting' in container.state && container.state.waiting.reason === 'CrashLoopBackOff' && !runtime.stopping && !runtime.failure;
    const allTerminated = containers.every((container) => 'terminated' in container.state);
    let phase: string;
    if (runtime.failure) phase = 'Failed';
    else if (allTerminated && containers.every((container) => container.started || 'terminated' in container.state)) {
      const failed = containers.some((container) => 'terminated' in container.state && container.state.terminated.exitCode !== 0);
      phase = failed || (runtime.stopping && restartPolicy === 'Always') ? 'Failed' : 'Succeeded';
    } else if (containers.every((container) => container.started) && containers.some((container) => 'running' in container.state || willRestart(container)))
      phase = 'Running';
    else phase = 'Pending';
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const ready = phase === 'Running' && containers.every((container) => 'running' in container.state);
    const unready = containers.filter((container) => !('running' in container.state)).map((container) => container.name);
    const readyReason = phase === 'Succeeded' ? 'PodCompleted' : phase === 'Failed' ? 'PodFailed' : ready ? undefined : 'ContainersNotReady';
    const readyMessage = readyReason === 'ContainersNotReady' ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    if (runtime.failure?.disruption) condition('DisruptionTarget', 'True', runtime.failure.disruption.reason, runtime.failure.disruption.message);
    if (runtime.startTime) {
      condition('PodReadyToStartContainers', terminal ? 'False' : 'True');
      condition('Initialized', 'True');
      condition('Ready', ready ? 'True' : 'False', readyReason, readyMessage);
      condition('ContainersReady', ready ? 'True' : 'False', readyReason, readyMessage);
    }
    condition('PodScheduled', 'True');
    const images = new Map(spec.containers.map((container) => [container.name, container.image]));
    pod['status'] = {
      phase,
      conditions,
      ...(runtime.failure ? { reason: runtime.failure.reason, message: runtime.failure.message } : {}),
      ...(runtime.startTime
        ? {
            hostIP: '127.0.0.1',
            hostIPs: [{ ip: '127.0.0.1' }],
            podIP: '127.0.0.1',
            podIPs: [{ ip: '127.0.0.1' }],
            startTime: runtime.startTime,
            containerStatuses: containers.map((container) => ({
              name: container.name,
              state: container.state,
              lastState: container.lastState,
              ready: ready && 'running' in container.state,
              restartCount: container.restartCount,
              image: images.get(container.name),
              imageID: container.imageID ?? '',
              ...(container.containerID ? { containerID: container.containerID } : {}),
              started: 'running' in container.state,
            })),
          }
        : {}),
      qosClass: previous.qosClass,
    };
    return pod;
  }

  /** The process a container spec makes of its image: argv, environment, user, volumes; or why it cannot start yet. */
  #launchOf(pod: KubernetesObject, runtime: PodRuntime, container: ContainerSpec, image: KubernetesTestImage): LaunchPlan {
    const spec = pod['spec'] as PodSpec;
    const where = `(pod: "${pod.metadata.name}_${this.#namespace}(${pod.metadata.uid})", container: ${container.name})`;
    const security = { ...(spec.securityContext ?? {}), ...(container.securityContext ?? {}) };
    if (container.securityContext?.privileged) {
      throw new ContainerConfigError(
        'CreateContainerError',
        'the Kubernetes test endpoint does not run privileged containers: it cannot give one the host',
        false,
      );
    }
    const [imageUid = '0', imageGid] = (image.user ?? '0').split(':');
    const uid = security.runAsUser ?? Number(imageUid);
    const gid = security.runAsGroup ?? (security.runAsUser === undefined && imageGid !== undefined ? Number(imageGid) : 0);
    if (security.runAsNonRoot && uid === 0) {
      throw new ContainerConfigError('CreateContainerConfigError', `container has runAsNonRoot and image will run as root ${where}`, false);
    }
    const environment: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...(image.environment ?? {}),
      HOSTNAME: pod.metadata.name,
    };
    const own: Record<string, string> = {};
    const secret = (name: string, optional: boolean | undefined): Record<string, string> | undefined => {
      const stored = this.#objects.secrets.get(name);
      if (!stored) {
        if (optional) return undefined;
        throw new ContainerConfigError('CreateContainerConfigError', `secret "${name}" not found`, true);
      }
      return Object.fromEntries(
        Object.entries((stored['data'] ?? {}) as Record<string, string>).map(([key, value]) => [key, Buffer.from(value, 'base64').toString('utf8')]),
      );
    };
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) {
        if (source.configMapRef.optional) continue;
        throw new ContainerConfigError('CreateContainerConfigError', `configmap "${source.configMapRef.name}" not found`, true);
      }
      for (const [key, value] of Object.entries(source.secretRef ? (secret(source.secretRef.name, source.secretRef.optional) ?? {}) : {}))
        own[`${source.prefix ?? ''}${key}`] = value;
    }
    for (const variable of container.env ?? []) {
      if (variable.valueFrom === undefined) {
        own[variable.name] = expand(variable.value ?? '', own);
        continue;
      }
      const { secretKeyRef, fieldRef, configMapKeyRef, resourceFieldRef } = variable.valueFrom;
      if (secretKeyRef) {
        const data = secret(secretKeyRef.name, secretKeyRef.optional);
        if (data === undefined) continue;
        if (!(secretKeyRef.key in data)) {
          if (secretKeyRef.optional) continue;
          throw new ContainerConfigError(
            'CreateContainerConfigError',
            `couldn't find key ${secretKeyRef.key} in Secret ${this.#namespace}/${secretKeyRef.name}`,
            true,
          );
        }
        own[variable.name] = data[secretKeyRef.key]!;
      } else if (configMapKeyRef) {
        if (configMapKeyRef.optional) continue;
        throw new ContainerConfigError('CreateContainerConfigError', `configmap "${configMapKeyRef.name}" not found`, true);
      } else if (fieldRef) {
        own[variable.name] = fieldValue(pod, fieldRef.fieldPath);
      } else if (resourceFieldRef) {
        const [kind, resource] = resourceFieldRef.resource.split('.') as ['limits' | 'requests', string];
        const quantity = container.resources?.[kind]?.[resource];
        const divisor = parseQuantity(resourceFieldRef.divisor ?? '1') ?? 1;
        own[variable.name] = quantity === undefined ? '0' : String(Math.ceil((parseQuantity(quantity) ?? 0) / divisor));
      }
    }
    Object.assign(environment, own);
    const argv = container.command ?? image.entrypoint;
    const args = container.command !== undefined ? (container.args ?? []) : (container.args ?? image.command ?? []);
    const mounts: { source: string; target: string; readOnly: boolean }[] = [];
    for (const mount of container.volumeMounts ?? []) {
      const volume = (spec.volumes ?? []).find((candidate) => candidate.name === mount.name)!;
      const folder = join(runtime.folder!, 'volumes', volume.name);
      if (volume.emptyDir) {
        mkdirSync(folder, { recursive: true, mode: 0o777 });
        chmodSync(folder, 0o777);
      } else if (volume.secret) {
        const data = secret(volume.secret.secretName, volume.secret.optional) ?? {};
        mkdirSync(folder, { recursive: true, mode: 0o755 });
        const items = volume.secret.items ?? Object.keys(data).map((key): { key: string; path: string; mode?: number } => ({ key, path: key }));
        for (const item of items) {
          if (!(item.key in data))
            throw new ContainerConfigError(
              'CreateContainerConfigError',
              `couldn't find key ${item.key} in Secret ${this.#namespace}/${volume.secret.secretName}`,
              true,
            );
          writeFileSync(join(folder, item.path), data[item.key]!, { mode: item.mode ?? volume.secret.defaultMode ?? 0o644 });
        }
      } else if (volume.downwardAPI) {
        const unsupported = unsupportedDownwardFields(volume.downwardAPI);
        if (unsupported.length > 0)
          throw new ContainerConfigError(
            'CreateContainerError',
            `the Kubernetes test endpoint renders only metadata fields in a downwardAPI volume, not ${unsupported.join(', ')}`,
            false,
          );
        writeDownwardApiVolume(folder, volume.downwardAPI, pod.metadata);
        (runtime.downward ??= []).push({ folder, source: volume.downwardAPI });
      } else {
        throw new ContainerConfigError(
          'CreateContainerError',
          `the Kubernetes test endpoint mounts only emptyDir, secret and downwardAPI volumes, not volume "${volume.name}"`,
          false,
        );
      }
      mounts.push({
        source: folder,
        target: mount.mountPath,
        readOnly: mount.readOnly === true || volume.secret !== undefined || volume.downwardAPI !== undefined,
      });
    }
    const drop = security.capabilities?.drop ?? [];
    const add = security.capabilities?.add ?? [];
    const capabilities = [...new Set([...(drop.includes('ALL') ? [] : runtimeDefaultCapabilities.filter((name) => !drop.includes(name))), ...add])].sort();
    const memory = container.resources?.limits?.['memory'];
    return {
      argv: [...argv, ...args].map((argument) => expand(argument, environment)),
      environment,
      uid,
      gid,
      workingDirectory: container.workingDir ?? image.workingDirectory ?? '/',
      capabilities,
      mounts,
      ...(memory !== undefined ? { memoryBytes: parseQuantity(memory)! } : {}),
    };
  }

  // ---------------------------------------------------------------- helpers

  #podOf(runtime: PodRuntime): KubernetesObject | undefined {
    const pod = this.#objects.pods.get(runtime.name);
    return pod?.metadata.uid === runtime.uid ? pod : undefined;
  }

  #runtimeByName(name: string): PodRuntime | undefined {
    const pod = this.#objects.pods.get(name);
    return pod ? this.#pods.get(pod.metadata.uid) : undefined;
  }

  /**
   * What the API server checks of an object it is sent: the Kubernetes schema of a built-in kind
   * (kubernetes-models) and its own rules; an installed CRD's published `openAPIV3Schema` for a
   * custom resource, and the metadata rules every object keeps.
   */
  #validate(resource: KubernetesTestResource, object: Record<string, unknown>, stored?: KubernetesObject): StatusCause[] {
    if (!isCustom(resource)) return validateObject(descriptors[resource].kind, object);
    const problems = checkSchema(
      this.#customSchemas.get(resource)!,
      { ...object, apiVersion: descriptors[resource].apiVersion, kind: descriptors[resource].kind },
      '',
      stored,
    );
    // The API server's reasons: a missing field is Required, a value outside an enum NotSupported.
    const schemaCauses = problems.map((problem): StatusCause =>
      problem.message === 'is required'
        ? { reason: 'FieldValueRequired', message: 'Required value', field: problem.path }
        : {
            reason: problem.message.startsWith('must be one of') ? 'FieldValueNotSupported' : 'FieldValueInvalid',
            message: `Invalid value: ${problem.message}`,
            field: problem.path,
          },
    );
    return schemaCauses.length > 0 ? schemaCauses : metadataCauses(object);
  }

  /** What the endpoint answers must pass the schema too: an answer that does not is the endpoint's bug, not the client's. */
  #checkAnswer(resource: KubernetesTestResource, object: KubernetesObject): void {
    const causes = this.#validate(resource, object);
    if (causes.length > 0) throw new Error(`the endpoint made an invalid ${descriptors[resource].kind}: ${JSON.stringify(causes)}`);
  }

  #answer(resource: KubernetesTestResource, object: KubernetesObject): KubernetesObject {
    this.#checkAnswer(resource, object);
    return clone(object);
  }

  #after(milliseconds: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, milliseconds);
    this.#timers.add(timer);
  }

  #podAfter(runtime: PodRuntime, milliseconds: number, action: () => void): void {
    const timer = setTimeout(() => {
      runtime.timers.delete(timer);
      if (!this.#stopped) action();
    }, milliseconds);
    runtime.timers.add(timer);
  }
}

/** What `#launchOf` makes of a container spec; the endpoint adds the image, hostname and cgroup. */
type LaunchPlan = Omit<ContainerLaunch, 'image' | 'hostname' | 'cgroupName' | 'bwrap' | 'memoryCgroupRoot'>;

interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: {
    name: string;
    value?: string;
    valueFrom?: {
      secretKeyRef?: { name: string; key: string; optional?: boolean };
      configMapKeyRef?: { name: string; key: string; optional?: boolean };
      fieldRef?: { fieldPath: string };
      resourceFieldRef?: { resource: string; divisor?: string };
    };
  }[];
  envFrom?: { prefix?: string; secretRef?: { name: string; optional?: boolean }; configMapRef?: { name: string; optional?: boolean } }[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: SecurityContext & { privileged?: boolean };
  imagePullPolicy?: string;
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
}

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

interface PodSpec {
  containers: ContainerSpec[];
  initContainers?: unknown[];
  restartPolicy?: string;
  activeDeadlineSeconds?: number;
  terminationGracePeriodSeconds?: number;
  nodeName?: string;
  securityContext?: SecurityContext;
  volumes?: {
    name: string;
    emptyDir?: Record<string, unknown>;
    secret?: { secretName: string; optional?: boolean; defaultMode?: number; items?: { key: string; path: string; mode?: number }[] };
    downwardAPI?: DownwardApiVolumeSource;
  }[];
  [field: string]: unknown;
}

/** Why the kubelet cannot create a container yet (`retry`: it tries again, as for a missing secret). */
class ContainerConfigError extends Error {
  readonly reason: string;
  readonly retry: boolean;

  constructor(reason: string, message: string, retry: boolean) {
    super(message);
    this.reason = reason;
    this.retry = retry;
  }
}

function methodNotAllowed(): KubernetesStatusError {
  return new KubernetesStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

function requireBody(body: Record<string, unknown> | undefined): Record<string, unknown> {
  if (body === undefined || typeof body !== 'object' || body === null) throw badRequest('the body of the request is empty');
  return body;
}

/** An object whose apiVersion or kind names another resource than the URL's is refused, as the server does. */
function checkTypeMeta(resource: KubernetesTestResource, body: Record<string, unknown>): void {
  const descriptor = descriptors[resource];
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== descriptor.apiVersion) {
    throw badRequest(`the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${descriptor.apiVersion})`);
  }
  if (body['kind'] !== undefined && body['kind'] !== descriptor.kind) {
    throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (${descriptor.kind})`);
  }
}

/** `labelSelector` and `fieldSelector` (metadata.name, metadata.namespace, status.phase, spec.nodeName) as one predicate. */
function selection(query: Readonly<Record<string, string>>): (object: KubernetesObject) => boolean {
  let labels: ReturnType<typeof parseLabelSelector>;
  try {
    labels = parseLabelSelector(query['labelSelector'] ?? '');
  } catch (error) {
    throw badRequest((error as Error).message);
  }
  const fields: { path: string; equal: boolean; value: string }[] = [];
  for (const part of (query['fieldSelector'] ?? '').split(',').filter((text) => text.trim() !== '')) {
    const match = /^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!match || !['metadata.name', 'metadata.namespace', 'status.phase', 'spec.nodeName'].includes(match[1]!)) {
      throw badRequest(`"${part.split(/[=!]/)[0]}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    fields.push({ path: match[1]!, equal: match[2] !== '!=', value: match[3]! });
  }
  return (object) =>
    labels(object.metadata.labels) &&
    fields.every((field) => {
      const value = field.path.split('.').reduce<unknown>((parent, key) => (parent as Record<string, unknown> | undefined)?.[key], object) ?? '';
      return (String(value) === field.value) === field.equal;
    });
}

function podMatches(pod: KubernetesObject, match: PodMatch): boolean {
  if (match.name !== undefined && pod.metadata.name !== match.name) return false;
  return match.labelSelector === undefined || parseLabelSelector(match.labelSelector)(pod.metadata.labels);
}

/** A secret's stringData is written into data (base64) and dropped; its type defaults to Opaque. */
function normaliseSecret(secret: KubernetesObject): void {
  const stringData = secret['stringData'] as Record<string, string> | undefined;
  if (stringData) {
    secret['data'] = {
      ...((secret['data'] ?? {}) as Record<string, string>),
      ...Object.fromEntries(Object.entries(stringData).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')])),
    };
    delete secret['stringData'];
  }
  secret['type'] ??= 'Opaque';
}

/** The defaults the API server and its admission plugins give a pod, and the status it is created with. */
function defaultPod(pod: KubernetesObject): void {
  const spec = pod['spec'] as PodSpec;
  if ((spec.initContainers ?? []).length > 0) throw badRequest('the Kubernetes test endpoint does not run initContainers');
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec['dnsPolicy'] ??= 'ClusterFirst';
  spec['schedulerName'] ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec['serviceAccountName'] ??= 'default';
  spec['serviceAccount'] ??= spec['serviceAccountName'];
  spec['enableServiceLinks'] ??= true;
  spec['priority'] ??= 0;
  spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
  const tolerations = (spec['tolerations'] ??= []) as { key?: string }[];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerations.some((toleration) => toleration.key === key))
      tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 } as never);
  }
  for (const container of spec.containers) {
    container.terminationMessagePath ??= '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    const tag = /:([^/:@]+)$/.exec(container.image)?.[1];
    container.imagePullPolicy ??= container.image.includes('@') ? 'IfNotPresent' : tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
    const resources = (container.resources ??= {});
    if (resources.limits) resources.requests = { ...resources.limits, ...(resources.requests ?? {}) };
  }
  const status = (pod['status'] ?? {}) as { qosClass?: string };
  pod['status'] = { phase: 'Pending', qosClass: status.qosClass ?? qosClassOf(spec.containers) };
}

function qosClassOf(containers: readonly ContainerSpec[]): string {
  const all = containers.map((container) => container.resources ?? {});
  if (all.every((resources) => Object.keys(resources.limits ?? {}).length === 0 && Object.keys(resources.requests ?? {}).length === 0)) return 'BestEffort';
  const guaranteed = all.every(
    (resources) =>
      ['cpu', 'memory'].every((name) => resources.limits?.[name] !== undefined) &&
      Object.entries(resources.requests ?? {}).every(([name, value]) => parseQuantity(value) === parseQuantity(resources.limits?.[name] ?? '')),
  );
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** `$(NAME)` references expanded from `environment`, `$$(NAME)` kept as `$(NAME)`, unknown ones left as written. */
function expand(text: string, environment: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in environment ? environment[name]! : whole;
  });
}

function fieldValue(pod: KubernetesObject, path: string): string {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (label) return pod.metadata[label[1] as 'labels' | 'annotations']?.[label[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return String((pod['spec'] as PodSpec).nodeName ?? '');
    case 'spec.serviceAccountName':
      return String((pod['spec'] as PodSpec)['serviceAccountName'] ?? '');
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    default:
      return '';
  }
}

/** JSON with sorted keys, for comparing specs whatever their key order. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

/** RFC 7386: null removes, objects merge, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result = (typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: unknown;
  from?: string;
}

/** RFC 6902, the operations a client sends (add, remove, replace, test, move, copy). */
function jsonPatch(document: unknown, operations: readonly JsonPatchOperation[]): unknown {
  const tokens = (pointer: string) =>
    pointer
      .split('/')
      .slice(1)
      .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
  const parentOf = (root: unknown, pointer: string): [Record<string, unknown> | unknown[], string] => {
    const path = tokens(pointer);
    const last = path.pop();
    if (last === undefined) throw badRequest(`the JSON patch path ${JSON.stringify(pointer)} names the whole object`);
    const parent = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
    if (typeof parent !== 'object' || parent === null)
      throw new KubernetesStatusError(
        422,
        'Invalid',
        `the server rejected our request due to an error in our request: doc is missing path: ${JSON.stringify(pointer)}`,
      );
    return [parent as Record<string, unknown> | unknown[], last];
  };
  const read = (root: unknown, pointer: string) => tokens(pointer).reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
  const put = (root: unknown, pointer: string, value: unknown, insert: boolean) => {
    const [parent, key] = parentOf(root, pointer);
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      parent.splice(index, insert ? 0 : 1, clone(value));
    } else parent[key] = clone(value);
  };
  const remove = (root: unknown, pointer: string) => {
    const [parent, key] = parentOf(root, pointer);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else {
      if (!(key in parent))
        throw new KubernetesStatusError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: doc is missing path: ${JSON.stringify(pointer)}`,
        );
      delete parent[key];
    }
  };
  for (const operation of operations) {
    switch (operation.op) {
      case 'add':
        put(document, operation.path, operation.value, true);
        break;
      case 'replace':
        remove(document, operation.path);
        put(document, operation.path, operation.value, true);
        break;
      case 'remove':
        remove(document, operation.path);
        break;
      case 'test':
        if (JSON.stringify(read(document, operation.path)) !== JSON.stringify(operation.value)) {
          throw new KubernetesStatusError(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: testing value ${operation.path} failed`,
          );
        }
        break;
      case 'move':
      case 'copy': {
        const value = clone(read(document, operation.from ?? ''));
        if (operation.op === 'move') remove(document, operation.from ?? '');
        put(document, operation.path, value, true);
        break;
      }
      default:
        throw badRequest(`unknown JSON patch operation ${JSON.stringify((operation as { op: unknown }).op)}`);
    }
  }
  return document;
}
