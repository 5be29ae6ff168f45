// The scheduler and the kubelet of the endpoint's one node: binds pods (unless a test holds them),
// starts their containers under bubblewrap from the image's root filesystem, restarts them by the
// restart policy with the kubelet's back-offs, stops them on deletion, eviction or deadline, and
// writes each pod's status as the kubelet reports it.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { badRequest, notFound } from './api-status.ts';
import { ContainerConfigError, launchOf, type LaunchPlan } from './container-launch.ts';
import { ContainerProcess, type ContainerExit } from './container-process.ts';
import { writeDownwardApiVolume } from './downward-api-volume.ts';
import { clone, now, type KubernetesObject, type KubernetesTestResource } from './kubernetes-resources.ts';
import type { KubernetesTestEndpointOptions } from './kubernetes-test-endpoint-options.ts';
import type { KubernetesObjectStore } from './object-store.ts';
import { podMatches, type PodMatch } from './object-selection.ts';
import type { PodSpec } from './pod-spec.ts';
import { withPodStatus, type ContainerRuntime, type PodRuntime, type Terminated } from './pod-status.ts';
import type { WatchEvent } from './watch-streams.ts';

const maximumBackOffMs = 300_000;

/** The node: what it runs of each pod, by uid, and the hooks a test holds on it. */
export class Kubelet {
  readonly #store: KubernetesObjectStore;
  readonly #options: KubernetesTestEndpointOptions;
  /** Where pods' volumes are made. */
  readonly #folder: string;
  /** Removes a pod marked for deletion once nothing holds it (`ObjectWrites.removeWhenDone`). */
  readonly #removeWhenDone: (resource: KubernetesTestResource, name: string) => void;
  readonly #pods = new Map<string, PodRuntime>();
  /** The runtimes of deleted pods by name (the last of a name), for their output. */
  readonly #removed = new Map<string, PodRuntime>();
  readonly #holds: { match: PodMatch; message: string }[] = [];
  #containerStarts = 0;
  #memoryEnforced: boolean | undefined;

  constructor(
    store: KubernetesObjectStore,
    options: KubernetesTestEndpointOptions,
    folder: string,
    removeWhenDone: (resource: KubernetesTestResource, name: string) => void,
  ) {
    this.#store = store;
    this.#options = options;
    this.#folder = folder;
    this.#removeWhenDone = removeWhenDone;
  }

  /** How many container processes were started in all. */
  get containerStarts(): number {
    return this.#containerStarts;
  }

  /** Whether memory limits were enforced by a cgroup (undefined until a container with a limit ran). */
  get memoryLimitsEnforced(): boolean | undefined {
    return this.#memoryEnforced;
  }

  /** What a pod's container wrote to stdout and stderr (its current or last run; kept after the pod is deleted). */
  output(podName: string, container?: string): string {
    const runtime = this.#runtimeByName(podName) ?? this.#removed.get(podName);
    const run = container === undefined ? runtime?.containers[0] : runtime?.containers.find((candidate) => candidate.name === container);
    return run?.output ?? '';
  }

  /** Keeps matching pods unscheduled with `message` until `release()`. */
  holdScheduling(match: PodMatch, message: string): { release(): void } {
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

  /** Evicts a pod as the kubelet does under node pressure (see `KubernetesTestEndpoint.evict`). */
  evict(podName: string, message: string): void {
    const runtime = this.#runtimeByName(podName);
    if (!runtime) throw new Error(`no pod ${podName}`);
    if (!runtime.bound) throw new Error(`pod ${podName} is not bound to the node: only the kubelet evicts, and only its own pods`);
    this.#fail(runtime, { reason: 'Evicted', message, disruption: { reason: 'TerminationByKubelet', message } }, 0);
  }

  /** What the log subresource answers: the container's output, or why there is none yet. */
  log(name: string, query: Readonly<Record<string, string>>): string {
    const runtime = this.#runtimeByName(name);
    if (!runtime) throw notFound('pods', name);
    const containerName = query['container'] ?? runtime.containers[0]!.name;
    const container = runtime.containers.find((candidate) => candidate.name === containerName);
    if (!container) throw badRequest(`container ${containerName} is not valid for pod ${name}`);
    if (!container.started && 'waiting' in container.state) {
      throw badRequest(`container "${containerName}" in pod "${name}" is waiting to start: ${container.state.waiting.reason}`);
    }
    return container.output;
  }

  /** The kubelet's side of a write: a new secret may unblock containers, a pod's new metadata its downwardAPI files. */
  committed(resource: KubernetesTestResource, type: WatchEvent['type'], object: KubernetesObject, previous: KubernetesObject | undefined): void {
    if (resource === 'secrets' && type !== 'DELETED') for (const runtime of this.#pods.values()) this.#retryWaitingContainers(runtime);
    if (resource === 'pods' && type === 'MODIFIED') this.#refreshDownwardVolumes(object, previous);
  }

  /** What the node runs of the pod with that uid, if it was admitted. */
  runtimeOf(uid: string): PodRuntime | undefined {
    return this.#pods.get(uid);
  }

  /** Forgets a removed pod: its timers and volumes go, its output stays readable by name. */
  forget(pod: KubernetesObject): void {
    const runtime = this.#pods.get(pod.metadata.uid);
    if (!runtime) return;
    for (const timer of runtime.timers) clearTimeout(timer);
    if (runtime.folder) rmSync(runtime.folder, { recursive: true, force: true });
    this.#pods.delete(pod.metadata.uid);
    this.#removed.set(pod.metadata.name, runtime);
  }

  /** Kills every container and waits for them to exit. */
  async stop(): Promise<void> {
    for (const runtime of this.#pods.values()) {
      for (const timer of runtime.timers) clearTimeout(timer);
      for (const container of runtime.containers) container.process?.kill();
    }
    await Promise.all(
      [...this.#pods.values()].flatMap((runtime) => runtime.containers.flatMap((container) => (container.process ? [container.process.exited] : []))),
    );
  }

  /** The kubelet's sync: a pod whose labels or annotations changed gets its downwardAPI files rewritten. */
  #refreshDownwardVolumes(pod: KubernetesObject, previous: KubernetesObject | undefined): void {
    const runtime = this.#pods.get(pod.metadata.uid);
    if (!runtime?.downward || runtime.stopping) return;
    const metadataOf = (object: KubernetesObject | undefined) => JSON.stringify([object?.metadata.labels ?? {}, object?.metadata.annotations ?? {}]);
    if (metadataOf(pod) === metadataOf(previous)) return;
    for (const volume of runtime.downward) writeDownwardApiVolume(volume.folder, volume.source, pod.metadata);
  }

  /** A created pod: the scheduler binds it after `schedulingDelayMs`. */
  admit(pod: KubernetesObject): void {
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
    this.#store.commit('pods', 'MODIFIED', withPodStatus(bound, runtime), pod);
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
      launch = launchOf(pod, runtime, containerSpec, image, this.#store.objects.secrets);
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
    if (this.#store.stopped) return;
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
          message: `back-off ${Math.round(container.backOffMs / 1_000)}s restarting failed container=${container.name} pod=${runtime.name}_${this.#store.namespace}(${runtime.uid})`,
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

  /** Stops a pod being deleted: its containers get `gracePeriodMs` after SIGTERM. */
  stopPod(runtime: PodRuntime, gracePeriodMs: number): void {
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
    if (!pod || this.#store.stopped) return;
    const next = withPodStatus(clone(pod), runtime);
    if (JSON.stringify(next['status']) === JSON.stringify(pod['status'])) return;
    this.#store.commit('pods', 'MODIFIED', next, pod);
  }
  #podOf(runtime: PodRuntime): KubernetesObject | undefined {
    const pod = this.#store.objects.pods.get(runtime.name);
    return pod?.metadata.uid === runtime.uid ? pod : undefined;
  }

  #runtimeByName(name: string): PodRuntime | undefined {
    const pod = this.#store.objects.pods.get(name);
    return pod ? this.#pods.get(pod.metadata.uid) : undefined;
  }

  #podAfter(runtime: PodRuntime, milliseconds: number, action: () => void): void {
    const timer = setTimeout(() => {
      runtime.timers.delete(timer);
      if (!this.#store.stopped) action();
    }, milliseconds);
    runtime.timers.add(timer);
  }
}
