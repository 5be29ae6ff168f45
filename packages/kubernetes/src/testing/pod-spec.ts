// A pod's spec as the endpoint reads it, and the defaults the API server and its admission plugins fill in.
import { badRequest } from './api-status.ts';
import type { DownwardApiVolumeSource } from './downward-api-volume.ts';
import type { KubernetesObject } from './kubernetes-resources.ts';
import { parseQuantity } from './quantity.ts';

export interface ContainerSpec {
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

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
}

export interface PodSpec {
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

/** The defaults the API server and its admission plugins give a pod, and the status it is created with. */
export function defaultPod(pod: KubernetesObject): void {
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
