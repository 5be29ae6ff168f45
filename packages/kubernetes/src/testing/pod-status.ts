// What the kubelet knows of a pod and its containers, and the pod status it derives from that.
import type { ContainerProcess } from './container-process.ts';
import type { DownwardApiVolumeSource } from './downward-api-volume.ts';
import { now, type KubernetesObject } from './kubernetes-resources.ts';
import type { PodSpec } from './pod-spec.ts';

export type ContainerState =
  | { readonly waiting: { readonly reason: string; readonly message?: string } }
  | { readonly running: { readonly startedAt: string } }
  | { readonly terminated: Terminated };

export interface Terminated {
  readonly exitCode: number;
  readonly reason: string;
  readonly message?: string;
  readonly startedAt?: string;
  readonly finishedAt: string;
  readonly containerID?: string;
}

/** What the kubelet knows of one container of a pod. */
export interface ContainerRuntime {
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
export interface PodRuntime {
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

/** The pod with the status the kubelet derives from what it knows of it. */
export function withPodStatus(pod: KubernetesObject, runtime: PodRuntime): KubernetesObject {
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
