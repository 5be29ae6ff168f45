import type { CipherV1, Logger, PublicKeyRecord, StorageProviderV1 } from '@cairn/core';
import { kmsKeySettingsShape } from '@cairn/kms';
import { publicKeyRecordSchema } from '@cairn/protocol';
import { s3EncryptionSchema, s3LocationSettingsShape } from '@cairn/s3';
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { attemptNetworkSchema } from './attempt-network-policy.ts';
import type { TaskCredentials } from './attempt-pod.ts';
import { podTemplateSchema } from './pod-template.ts';
import type { SandboxClaimObservation } from './sandbox-claim-path.ts';

const seam = (name: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && (value as { specificationVersion?: unknown }).specificationVersion === 'v1', {
    message: `must be a ${name} (an object with specificationVersion 'v1')`,
  });

const dnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a DNS subdomain name: lowercase letters, digits, "-" and "."');

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-", at most 63 characters');

/** Credentials for the worker's storage and KMS, as `taskCredentials` answers them. */
export const credentialsSchema = z.strictObject({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  sessionToken: z.string().min(1).optional(),
});

/** Where the settings live in the host's configuration when it does not say: errors then name `kubernetes.<option>`. */
export const defaultSettingsPath = 'kubernetes';

/** Settings of `createKubernetesExecutor`, checked at construction; errors name `<settingsPath>.<option>`. */
export const kubernetesExecutorSettingsSchema = z
  .strictObject({
    /**
     * Where these settings live in the host's configuration (`config.executor` in a Cairn server's),
     * so that every error and named end speaks of the option as the operator writes it
     * (`config.executor.image`). `kubernetes` by default.
     */
    settingsPath: z.string().min(1).default(defaultSettingsPath),
    /**
     * The cluster: a `KubeConfig` from `@kubernetes/client-node`, or a kubeconfig's text (YAML or
     * JSON). Unset: the client's default (KUBECONFIG, ~/.kube/config, or the pod's in-cluster account).
     */
    kubeConfig: z
      .union([
        z.custom<KubeConfig>((value) => value instanceof KubeConfig || (typeof value === 'object' && value !== null && 'makeApiClient' in value), {
          message: 'must be a KubeConfig or the text of a kubeconfig file',
        }),
        z.string().min(1),
      ])
      .optional(),
    /** The one namespace attempt pods, their Secrets and NetworkPolicies are made in (a Role there is all the server needs). */
    namespace: dnsLabel,
    /** The `cairn-worker` image (pin a digest in production). */
    image: z.string().min(1, 'must name the cairn-worker image (registry/name:tag or @sha256:…)'),
    /** The container's name in each pod. */
    containerName: dnsLabel.default('cairn-worker'),
    /** The operator's part of every pod: RuntimeClass, scheduling, resources, pull secrets, annotations, service account, priority. */
    podTemplate: podTemplateSchema.default({}),
    /** Where attempt pods may connect: their NetworkPolicy denies everything else. */
    network: attemptNetworkSchema,
    /** How long a pod may stay Pending (unschedulable, its image not pulled yet) before its attempt fails and the pod is deleted. */
    pendingTimeoutSeconds: z.int().min(1).max(86_400).default(600),
    /** The engine's storage: manifests read, sealed secrets written, result records read back. */
    storage: seam('StorageProviderV1'),
    /** Where the pod finds that same storage: its S3 location, as the worker builds its storage from it. */
    taskStorage: z.strictObject({
      bucket: s3LocationSettingsShape.bucket,
      prefix: s3LocationSettingsShape.prefix,
      region: s3LocationSettingsShape.region,
      endpoint: s3LocationSettingsShape.endpoint,
      forcePathStyle: s3LocationSettingsShape.forcePathStyle,
      encryption: s3EncryptionSchema.optional(),
    }),
    /** Seals each attempt's secrets and gateway credential into storage (a KMS cipher); needed only when items have them. */
    cipher: seam('CipherV1').optional(),
    /** The KMS key the worker opens them with (the cipher's key). */
    taskCipher: z.strictObject({ keyId: kmsKeySettingsShape.keyId, region: kmsKeySettingsShape.region, endpoint: kmsKeySettingsShape.endpoint }).optional(),
    /** Keys a dispatch manifest may be signed with (the engine signer's public key), handed to each pod. */
    trustedKeys: z.array(publicKeyRecordSchema).min(1, "must hold the engine signer's public key"),
    /**
     * The AWS credentials the worker reaches storage and KMS with, put in each attempt's Secret:
     * fixed ones, or a function minting them per execution (short-lived, scoped to it). Unset: the
     * pod's own identity (IRSA or Pod Identity through `podTemplate.serviceAccountName`).
     */
    taskCredentials: z
      .union([
        credentialsSchema,
        z.custom<(executionId: string) => Promise<TaskCredentials> | TaskCredentials>((value) => typeof value === 'function', {
          message: 'must be { accessKeyId, secretAccessKey, sessionToken? } or a function of the execution id answering them',
        }),
      ])
      .optional(),
    /**
     * Claim each attempt's sandbox from an agent-sandbox warm pool instead of making a pod (ADR 0051,
     * step 3): the operator's `SandboxWarmPool` and the `SandboxTemplate` it must use (its container
     * runs the worker in its wait mode), and how long a claim may take to be bound. An item with
     * `network: true` still gets a pod of its own (the template's policy confines claimed pods).
     */
    sandboxPool: z
      .strictObject({
        warmPool: dnsSubdomain,
        template: dnsSubdomain,
        claimTimeoutSeconds: z.int().min(1).max(3_600).default(300),
      })
      .optional(),
    /** Told of each claim bound: its latency and whether it was a warm hit (the server's metrics). */
    onClaimBound: z
      .custom<(observation: SandboxClaimObservation) => void>((value) => typeof value === 'function', { message: 'must be a function' })
      .optional(),
    logger: z.custom<Logger>((value) => typeof value === 'object' && value !== null, 'must be a logger (debug, info, warn, error)').optional(),
  })
  .refine((settings) => settings.sandboxPool === undefined || settings.taskCredentials === undefined, {
    message:
      "a claimed sandbox reaches storage and KMS as its SandboxTemplate's service account: there is no per-attempt Secret to put taskCredentials in (ADR 0051); unset taskCredentials or sandboxPool",
    path: ['taskCredentials'],
  })
  .refine((settings) => (settings.cipher === undefined) === (settings.taskCipher === undefined), {
    message: 'cipher and taskCipher are set together: the executor seals with the one, the worker opens with the other',
    path: ['taskCipher'],
  });

/** The settings' path as given, before they are checked: the checks' own errors name it too. */
export function settingsPathOf(settings: { readonly settingsPath?: unknown }): string {
  const given = settings.settingsPath;
  return typeof given === 'string' && given.length > 0 ? given : defaultSettingsPath;
}

export type KubernetesExecutorSettings = Omit<
  z.input<typeof kubernetesExecutorSettingsSchema>,
  'kubeConfig' | 'storage' | 'cipher' | 'trustedKeys' | 'taskCredentials' | 'logger' | 'onClaimBound'
> & {
  readonly onClaimBound?: (observation: SandboxClaimObservation) => void;
  readonly kubeConfig?: KubeConfig | string;
  readonly storage: StorageProviderV1;
  readonly cipher?: CipherV1;
  readonly trustedKeys: readonly PublicKeyRecord[];
  readonly taskCredentials?: TaskCredentials | ((executionId: string) => Promise<TaskCredentials> | TaskCredentials);
  readonly logger?: Logger;
};
