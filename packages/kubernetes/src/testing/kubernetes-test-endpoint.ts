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
//
// This file is the HTTP face (routing, authentication, namespaces, the hooks); the API server's
// storage and checks are `object-store.ts`, its verbs `object-writes.ts` (with
// `garbage-collector.ts`), its watches `watch-streams.ts`; the scheduler and kubelet `kubelet.ts`
// (with `container-launch.ts` and `pod-status.ts`).
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { badRequest, KubernetesStatusError } from './api-status.ts';
import { Kubelet } from './kubelet.ts';
import { clone, descriptors, isCustom, type KubernetesTestResource } from './kubernetes-resources.ts';
import type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';
import type { PodMatch } from './object-selection.ts';
import { KubernetesObjectStore } from './object-store.ts';
import { ObjectWrites } from './object-writes.ts';

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

/** A Kubernetes API endpoint on 127.0.0.1 whose pods run under bubblewrap; see the header of this file. */
export class KubernetesTestEndpoint {
  readonly requests: KubernetesRecordedRequest[] = [];
  readonly #token: string;
  readonly #server: Server;
  readonly #folder: string;
  readonly #store: KubernetesObjectStore;
  readonly #kubelet: Kubelet;
  readonly #writes: ObjectWrites;
  #url = '';

  private constructor(options: KubernetesTestEndpointOptions) {
    this.#token = options.token ?? randomBytes(24).toString('base64url');
    this.#folder = mkdtempSync(join(tmpdir(), 'cairn-kubernetes-endpoint-'));
    chmodSync(this.#folder, 0o755);
    this.#server = createServer((request, response) => void this.#handle(request, response));
    // After every write: the garbage collector looks at a deleted owner's dependents, the kubelet at what its pods use.
    this.#store = new KubernetesObjectStore(options, (resource, type, object, previous) => {
      if (type === 'DELETED') this.#writes.ownerDeleted(object.metadata.uid);
      this.#kubelet.committed(resource, type, object, previous);
    });
    this.#kubelet = new Kubelet(this.#store, options, this.#folder, (resource, name) => this.#writes.removeWhenDone(resource, name));
    this.#writes = new ObjectWrites(this.#store, this.#kubelet, options);
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
    return this.#store.namespace;
  }

  /** The bearer token requests must carry. */
  get token(): string {
    return this.#token;
  }

  /** The current resourceVersion (the last write's revision). */
  get resourceVersion(): string {
    return String(this.#store.revision);
  }

  /** How many watches are open now. */
  get openWatches(): number {
    return this.#store.watches.size;
  }

  /** How many container processes were started in all (the oracle's count of attempts run). */
  get containerStarts(): number {
    return this.#kubelet.containerStarts;
  }

  /** Whether memory limits were enforced by a cgroup (undefined until a container with a limit ran). */
  get memoryLimitsEnforced(): boolean | undefined {
    return this.#kubelet.memoryLimitsEnforced;
  }

  /** A KubeConfig for this endpoint: one cluster, a token user, the served namespace as the context's. */
  kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      // Plain HTTP on loopback: the client accepts an http:// server only with skipTLSVerify set.
      clusters: [{ name: 'cairn-test', server: this.#url, skipTLSVerify: true }],
      users: [{ name: 'cairn-test', token: this.#token }],
      contexts: [{ name: 'cairn-test', cluster: 'cairn-test', user: 'cairn-test', namespace: this.#store.namespace }],
      currentContext: 'cairn-test',
    });
    return config;
  }

  /** A stored object as it is now (a copy), or undefined: the oracle a test reads beside the client. */
  object(resource: KubernetesTestResource, name: string): Record<string, unknown> | undefined {
    const object = this.#store.objects[resource].get(name);
    return object ? clone(object) : undefined;
  }

  /**
   * An object as it is now, or as it was when it was deleted (the last deleted of that name), or
   * undefined if there never was one: for reading what the executor made after it cleaned up.
   */
  lastSeen(resource: KubernetesTestResource, name: string): Record<string, unknown> | undefined {
    const object = this.#store.objects[resource].get(name) ?? this.#store.deleted[resource].get(name);
    return object ? clone(object) : undefined;
  }

  /** Whether an object of that name was deleted (and none made again since). */
  wasDeleted(resource: KubernetesTestResource, name: string): boolean {
    return !this.#store.objects[resource].has(name) && this.#store.deleted[resource].has(name);
  }

  /** What a pod's container wrote to stdout and stderr (its current or last run; kept after the pod is deleted). */
  output(podName: string, container?: string): string {
    return this.#kubelet.output(podName, container);
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
    return this.#kubelet.holdScheduling(match, message);
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
    this.#kubelet.evict(podName, message);
  }

  /** Ends every open watch (`end`: the server closes the stream, as on its timeout; `reset`: the connection is cut). Returns how many. */
  dropWatches(how: 'end' | 'reset' = 'end'): number {
    return this.#store.watches.closeAll(how);
  }

  /** Forgets every event so far, as etcd's compaction does: a watch from an older resourceVersion gets 410 Expired. */
  compactHistory(): void {
    this.#store.watches.compact();
  }

  /** Resolves with a pod once `predicate` holds for it (polled every 10 ms). */
  async waitForPod(name: string, predicate: (pod: Record<string, unknown>) => boolean, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pod = this.#store.objects.pods.get(name);
      if (pod && predicate(pod)) return clone(pod);
      if (Date.now() > deadline) throw new Error(`pod ${name} did not reach the state awaited in ${timeoutMs} ms: ${JSON.stringify(pod?.['status'])}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Kills every container, ends every watch, closes the endpoint and removes its folders. */
  async stop(): Promise<void> {
    this.#store.stop();
    await this.#kubelet.stop();
    this.#store.watches.closeAll('reset');
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
    if (!route || !this.#store.serves(route[3] as KubernetesTestResource))
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
    if (namespace !== this.#store.namespace) {
      const group = descriptors[resource].group ?? '';
      const where = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      throw new KubernetesStatusError(
        403,
        'Forbidden',
        `${resource}${subresource ? `/${subresource}` : ''} is forbidden: User "system:serviceaccount:${this.#store.namespace}:cairn-server" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`,
        { ...(name ? { name } : {}), ...(group ? { group } : {}), kind: resource },
      );
    }
    if (subresource === 'log') {
      if (method !== 'GET') throw methodNotAllowed();
      const output = this.#kubelet.log(name!, query);
      recorded.status = 200;
      response.writeHead(200, { 'content-type': 'text/plain' });
      response.end(output);
      return undefined;
    }
    if (subresource === 'status') {
      // The CRDs' status subresource: a controller writes status there; the pod's is the kubelet's own.
      if (!isCustom(resource) || (method !== 'PUT' && method !== 'GET')) throw methodNotAllowed();
      if (method === 'GET') return { status: 200, body: this.#store.read(resource, name!) };
      return { status: 200, body: this.#writes.updateStatus(resource, name!, requireBody(recorded.body as Record<string, unknown> | undefined)) };
    }
    const body = recorded.body as Record<string, unknown> | undefined;
    switch (verb) {
      case 'create':
        if (name) throw methodNotAllowed();
        return { status: 201, body: this.#writes.create(resource, requireBody(body), query['dryRun'] === 'All') };
      case 'get':
        return { status: 200, body: this.#store.read(resource, name!) };
      case 'list':
        return { status: 200, body: this.#store.list(resource, query) };
      case 'watch':
        this.#store.watches.open(resource, name, query, this.#store.objects[resource], recorded, response);
        return undefined;
      case 'update':
        return { status: 200, body: this.#writes.update(resource, name!, requireBody(body)) };
      case 'patch':
        return { status: 200, body: this.#writes.patch(resource, name!, requireBody(body), String(request.headers['content-type'] ?? '')) };
      case 'delete':
        return this.#writes.delete(resource, name!, query, body);
      default:
        throw methodNotAllowed();
    }
  }
}

function methodNotAllowed(): KubernetesStatusError {
  return new KubernetesStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

function requireBody(body: Record<string, unknown> | undefined): Record<string, unknown> {
  if (body === undefined || typeof body !== 'object' || body === null) throw badRequest('the body of the request is empty');
  return body;
}
