import type {
  V1Affinity,
  V1EnvVar,
  V1OwnerReference,
  V1Pod,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1Secret,
  V1Toleration,
} from '@kubernetes/client-node';
import { executionLabels, labelValueOf, managedByValue } from './execution-labels.ts';
import type { PodTemplate } from './pod-template.ts';

/** The AWS credentials an attempt's worker reaches storage and KMS with, as the AWS SDK reads them from its environment. */
export interface TaskCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** The credential's environment variables and the keys of the Secret that holds them. */
const credentialEntries = [
  { variable: 'AWS_ACCESS_KEY_ID', key: 'aws-access-key-id', field: 'accessKeyId' },
  { variable: 'AWS_SECRET_ACCESS_KEY', key: 'aws-secret-access-key', field: 'secretAccessKey' },
  { variable: 'AWS_SESSION_TOKEN', key: 'aws-session-token', field: 'sessionToken' },
] as const;

/** How long past the item's timeout Kubernetes lets the pod run: the worker stops the runtime at the timeout and stores what it has. */
export const deadlineMarginSeconds = 120;

/** What `attemptPod` is made from. */
export interface AttemptPodOptions {
  readonly name: string;
  readonly executionId: string;
  readonly executionDigest: string;
  /** `ownerDigestOf` the storage its results go to. */
  readonly ownerDigest: string;
  readonly run: { readonly runId: string; readonly itemId: string; readonly attempt: number };
  readonly timeoutMs: number;
  readonly image: string;
  readonly containerName: string;
  readonly template: PodTemplate;
  /** The task environment (no secret in it: ADR 0021). */
  readonly environment: readonly { readonly name: string; readonly value: string }[];
  readonly secretName: string;
  /** Which credential entries the Secret will hold; none: the Secret is only waited for. */
  readonly credentialKeys: readonly (keyof TaskCredentials)[];
}

/**
 * The pod of one attempt: the worker image, `restartPolicy: Never` (an attempt runs once; the
 * engine decides about another), `activeDeadlineSeconds` from the item's timeout, no service-account
 * token, no host namespaces, a container that cannot gain privileges and holds no capability, and
 * the operator's template for the rest. Nothing secret is in it: the credential comes from the
 * Secret the pod owns, created after it, which the kubelet waits for before it starts the container.
 */
export function attemptPod(options: AttemptPodOptions): V1Pod {
  const template = options.template;
  const credentialEnvironment: V1EnvVar[] = credentialEntries
    .filter((entry) => options.credentialKeys.includes(entry.field))
    .map((entry) => ({ name: entry.variable, valueFrom: { secretKeyRef: { name: options.secretName, key: entry.key } } }));
  const security = template.containerSecurityContext ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name,
      labels: {
        [executionLabels.managedBy]: managedByValue,
        [executionLabels.execution]: options.executionDigest,
        [executionLabels.owner]: options.ownerDigest,
        [executionLabels.run]: labelValueOf(options.run.runId),
        [executionLabels.item]: labelValueOf(options.run.itemId),
        [executionLabels.attempt]: String(options.run.attempt),
      },
      annotations: { ...template.annotations, [executionLabels.executionId]: options.executionId },
    },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: Math.ceil(options.timeoutMs / 1_000) + deadlineMarginSeconds,
      automountServiceAccountToken: false,
      hostNetwork: false,
      hostPID: false,
      hostIPC: false,
      // Service links would put `<SERVICE>_PORT` variables of the namespace's services in the worker's environment.
      enableServiceLinks: false,
      ...(template.runtimeClassName !== undefined ? { runtimeClassName: template.runtimeClassName } : {}),
      ...(template.nodeSelector !== undefined ? { nodeSelector: template.nodeSelector } : {}),
      ...(template.affinity !== undefined ? { affinity: template.affinity as V1Affinity } : {}),
      ...(template.tolerations !== undefined ? { tolerations: template.tolerations as V1Toleration[] } : {}),
      ...(template.imagePullSecrets !== undefined ? { imagePullSecrets: template.imagePullSecrets.map((name) => ({ name })) } : {}),
      ...(template.serviceAccountName !== undefined ? { serviceAccountName: template.serviceAccountName } : {}),
      ...(template.priorityClassName !== undefined ? { priorityClassName: template.priorityClassName } : {}),
      securityContext: { seccompProfile: { type: 'RuntimeDefault' }, ...template.securityContext } as V1PodSecurityContext,
      containers: [
        {
          name: options.containerName,
          image: options.image,
          env: [...options.environment.map((pair) => ({ name: pair.name, value: pair.value })), ...credentialEnvironment],
          // Without a credential the Secret is empty, and still waited for: the kubelet starts the
          // container only once it exists, which the executor creates after the NetworkPolicy.
          ...(credentialEnvironment.length === 0 ? { envFrom: [{ secretRef: { name: options.secretName } }] } : {}),
          ...(template.resources !== undefined ? { resources: template.resources as V1ResourceRequirements } : {}),
          securityContext: {
            ...(security.runAsUser !== undefined ? { runAsUser: security.runAsUser } : {}),
            ...(security.runAsGroup !== undefined ? { runAsGroup: security.runAsGroup } : {}),
            ...(security.runAsNonRoot !== undefined ? { runAsNonRoot: security.runAsNonRoot } : {}),
            ...(security.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: security.readOnlyRootFilesystem } : {}),
            privileged: false,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

/** The Secret holding an attempt's credential, owned by its pod (it goes with the pod). */
export function attemptCredentialSecret(options: {
  readonly name: string;
  readonly executionDigest: string;
  readonly owner: V1OwnerReference;
  readonly credentials: TaskCredentials | undefined;
}): V1Secret {
  const data: Record<string, string> = {};
  for (const entry of credentialEntries) {
    const value = options.credentials?.[entry.field];
    if (value !== undefined) data[entry.key] = Buffer.from(value, 'utf8').toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    // Never changed once made: the kubelet reads it once, at the container's start.
    immutable: true,
    metadata: {
      name: options.name,
      labels: { [executionLabels.managedBy]: managedByValue, [executionLabels.execution]: options.executionDigest },
      ownerReferences: [options.owner],
    },
    data,
  };
}

/** The owner reference to an attempt's pod: its uid, so that a later pod of the same name does not adopt the object. */
export function podOwnerReference(pod: { readonly name: string; readonly uid: string }): V1OwnerReference {
  return { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid, blockOwnerDeletion: true, controller: true };
}

/** The credential entries present in `credentials`. */
export function credentialKeysOf(credentials: TaskCredentials | undefined): (keyof TaskCredentials)[] {
  if (credentials === undefined) return [];
  return credentialEntries.filter((entry) => credentials[entry.field] !== undefined).map((entry) => entry.field);
}
