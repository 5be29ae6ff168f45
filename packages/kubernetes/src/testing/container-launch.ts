// The process a pod's container spec makes of its image, as the kubelet and the container runtime
// build it: argv, environment, user, capabilities and volumes; or why it cannot be created yet.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeDefaultCapabilities, type ContainerLaunch, type KubernetesTestImage } from './container-process.ts';
import { unsupportedDownwardFields, writeDownwardApiVolume } from './downward-api-volume.ts';
import type { KubernetesObject } from './kubernetes-resources.ts';
import type { ContainerSpec, PodSpec } from './pod-spec.ts';
import type { PodRuntime } from './pod-status.ts';
import { parseQuantity } from './quantity.ts';

/** What `launchOf` makes of a container spec; the kubelet adds the image, hostname and cgroup. */
export type LaunchPlan = Omit<ContainerLaunch, 'image' | 'hostname' | 'cgroupName' | 'bwrap' | 'memoryCgroupRoot'>;

/** Why the kubelet cannot create a container yet (`retry`: it tries again, as for a missing secret). */
export class ContainerConfigError extends Error {
  readonly reason: string;
  readonly retry: boolean;

  constructor(reason: string, message: string, retry: boolean) {
    super(message);
    this.reason = reason;
    this.retry = retry;
  }
}

/** The process a container spec makes of its image: argv, environment, user, volumes; or why it cannot start yet. */
export function launchOf(
  pod: KubernetesObject,
  runtime: PodRuntime,
  container: ContainerSpec,
  image: KubernetesTestImage,
  secrets: ReadonlyMap<string, KubernetesObject>,
): LaunchPlan {
  const spec = pod['spec'] as PodSpec;
  const namespace = pod.metadata.namespace;
  const where = `(pod: "${pod.metadata.name}_${namespace}(${pod.metadata.uid})", container: ${container.name})`;
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
    const stored = secrets.get(name);
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
        throw new ContainerConfigError('CreateContainerConfigError', `couldn't find key ${secretKeyRef.key} in Secret ${namespace}/${secretKeyRef.name}`, true);
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
            `couldn't find key ${item.key} in Secret ${namespace}/${volume.secret.secretName}`,
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
