import { z } from 'zod';

const quantity = z.union([z.string().min(1), z.number().nonnegative()]).transform(String);
const stringMap = z.record(z.string().min(1), z.string());

/** What a toleration says, as the pod spec takes it. */
const tolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.int().optional(),
});

/** Fields the executor refuses to set true: named here so that the refusal names them, not "not an option". */
const refusedTrue = z.boolean().optional();

/**
 * The operator's part of every attempt pod (ADR 0051): scheduling, resources and isolation passed
 * through as the pod spec takes them. What would weaken the pod is refused at construction, each
 * naming its option: privileged containers, host namespaces, privilege escalation, added
 * capabilities and an automounted service-account token. The executor itself sets `restartPolicy`,
 * `activeDeadlineSeconds`, the container, its environment and its security context.
 */
export const podTemplateSchema = z
  .strictObject({
    /** A RuntimeClass (gVisor, Kata) isolating each attempt further: recommended where the cluster has one. */
    runtimeClassName: z.string().min(1).optional(),
    nodeSelector: stringMap.optional(),
    /** The pod spec's `affinity`, passed through as it is (the API server validates it). */
    affinity: z.record(z.string(), z.unknown()).optional(),
    tolerations: z.array(tolerationSchema).optional(),
    /** The worker container's requests and limits; a memory limit is what an OOM kill is measured against. */
    resources: z.strictObject({ requests: z.record(z.string(), quantity).optional(), limits: z.record(z.string(), quantity).optional() }).optional(),
    /** Secrets to pull the worker image with (names of `kubernetes.io/dockerconfigjson` Secrets in the namespace). */
    imagePullSecrets: z.array(z.string().min(1)).optional(),
    /** Annotations of every attempt pod (a RuntimeClass's, a service mesh's opt-out). */
    annotations: stringMap.optional(),
    /** The pod's service account (its identity for the cloud, e.g. IRSA); its token is never mounted. */
    serviceAccountName: z.string().min(1).optional(),
    priorityClassName: z.string().min(1).optional(),
    /** The pod's `securityContext`: users, groups and the seccomp profile. */
    securityContext: z
      .strictObject({
        runAsUser: z.int().min(0).optional(),
        runAsGroup: z.int().min(0).optional(),
        runAsNonRoot: z.boolean().optional(),
        fsGroup: z.int().min(0).optional(),
        supplementalGroups: z.array(z.int().min(0)).optional(),
        seccompProfile: z.strictObject({ type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']), localhostProfile: z.string().optional() }).optional(),
      })
      .optional(),
    /** The worker container's `securityContext`, over the executor's (no privilege escalation, every capability dropped). */
    containerSecurityContext: z
      .strictObject({
        runAsUser: z.int().min(0).optional(),
        runAsGroup: z.int().min(0).optional(),
        runAsNonRoot: z.boolean().optional(),
        readOnlyRootFilesystem: z.boolean().optional(),
        privileged: refusedTrue,
        allowPrivilegeEscalation: refusedTrue,
        capabilities: z.strictObject({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() }).optional(),
      })
      .optional(),
    hostNetwork: refusedTrue,
    hostPID: refusedTrue,
    hostIPC: refusedTrue,
    automountServiceAccountToken: refusedTrue,
  })
  .superRefine((template, context) => {
    const refuse = (path: (string | number)[], message: string) => context.addIssue({ code: 'custom', path, message });
    for (const host of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
      if (template[host] === true) {
        refuse(
          [host],
          `must not be true: an attempt pod never shares the node's namespaces (ADR 0051). Remove ${host}; to reach a service, add its CIDR and port to network.egress`,
        );
      }
    }
    if (template.automountServiceAccountToken === true) {
      refuse(
        ['automountServiceAccountToken'],
        'must not be true: an attempt never gets a Kubernetes API token (the executor sets automountServiceAccountToken: false). Remove it; a cloud identity through serviceAccountName (IRSA, Pod Identity) does not need it',
      );
    }
    const container = template.containerSecurityContext;
    if (container?.privileged === true) {
      refuse(
        ['containerSecurityContext', 'privileged'],
        'must not be true: attempt pods are never privileged (ADR 0051). Remove it; to isolate attempts further, set runtimeClassName (gVisor, Kata)',
      );
    }
    if (container?.allowPrivilegeEscalation === true) {
      refuse(
        ['containerSecurityContext', 'allowPrivilegeEscalation'],
        'must not be true: the worker container never gains privileges (no setuid, no file capabilities). Remove it',
      );
    }
    if ((container?.capabilities?.add ?? []).length > 0) {
      refuse(
        ['containerSecurityContext', 'capabilities', 'add'],
        `must be empty: the worker container runs with every capability dropped (it was asked for ${container!.capabilities!.add!.join(', ')}). Remove it`,
      );
    }
  });

export type PodTemplate = z.output<typeof podTemplateSchema>;
