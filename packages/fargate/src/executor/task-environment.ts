import type { PublicKeyRecord, TaskTraceContext } from '@cairn/core';
import { CairnError, publicKeyRecordSchema, taskEnvelopeSchema } from '@cairn/protocol';
import { z } from 'zod';

/**
 * The environment variables the executor sets on a task (as a container override) and
 * `cairn-worker` reads: only what the worker needs to find and check its manifest, and where the
 * model gateway is. Never a secret: secrets and the gateway credential are sealed into storage
 * (`CAIRN_SEALED_SECRETS` names where), see ADR 0021.
 */
export const taskEnvironmentNames = {
  executionId: 'CAIRN_EXECUTION_ID',
  manifestDigest: 'CAIRN_MANIFEST_DIGEST',
  storageBucket: 'CAIRN_STORAGE_BUCKET',
  storagePrefix: 'CAIRN_STORAGE_PREFIX',
  storageRegion: 'CAIRN_STORAGE_REGION',
  storageEndpoint: 'CAIRN_STORAGE_ENDPOINT',
  storageForcePathStyle: 'CAIRN_STORAGE_FORCE_PATH_STYLE',
  storageEncryption: 'CAIRN_STORAGE_ENCRYPTION',
  sealedSecrets: 'CAIRN_SEALED_SECRETS',
  cipherKeyId: 'CAIRN_CIPHER_KMS_KEY_ID',
  cipherRegion: 'CAIRN_CIPHER_KMS_REGION',
  cipherEndpoint: 'CAIRN_CIPHER_KMS_ENDPOINT',
  trustedKeys: 'CAIRN_TRUSTED_KEYS',
  gatewayUrl: 'CAIRN_MODEL_GATEWAY_URL',
  // Prefixed: the worker's own process is not the one the trace context is for; its runtime is.
  traceparent: 'CAIRN_TRACEPARENT',
  tracestate: 'CAIRN_TRACESTATE',
} as const;

/** What a task is told, as the executor composes it and the worker reads it back. */
export interface TaskEnvironment {
  readonly executionId: string;
  readonly manifestDigest: string;
  readonly storage: {
    readonly bucket: string;
    readonly prefix: string;
    readonly region?: string | undefined;
    readonly endpoint?: string | undefined;
    readonly forcePathStyle: boolean;
    /** What the worker asks for on every write, as the engine's storage does (`@cairn/s3`'s `encryption`). */
    readonly encryption?: { readonly kind: 'sse-s3' } | { readonly kind: 'sse-kms'; readonly keyId: string } | undefined;
  };
  /** The storage key of the sealed secrets; absent when the task has none. */
  readonly sealedSecrets?: string | undefined;
  /** The KMS key that opens them; absent when the task has none. */
  readonly cipher?: { readonly keyId: string; readonly region?: string | undefined; readonly endpoint?: string | undefined } | undefined;
  /** The public keys the manifest may be signed with (the engine signer's): public, so not a secret. */
  readonly trustedKeys: readonly PublicKeyRecord[];
  /**
   * The model gateway's URL as the task reaches it (the server's `gateway.publicUrl`), for an agent
   * attempt; its credential is sealed with the secrets, so `sealedSecrets` is set too.
   */
  readonly gatewayUrl?: string | undefined;
  /** The attempt span's W3C trace context, which the worker gives its runtime as TRACEPARENT: ids, never a secret. */
  readonly traceContext?: TaskTraceContext | undefined;
}

const names = taskEnvironmentNames;

/** The environment of a task as ECS `KeyValuePair`s, unset values left out. */
export function taskEnvironmentPairs(environment: TaskEnvironment): { name: string; value: string }[] {
  const values: Record<string, string | undefined> = {
    [names.executionId]: environment.executionId,
    [names.manifestDigest]: environment.manifestDigest,
    [names.storageBucket]: environment.storage.bucket,
    [names.storagePrefix]: environment.storage.prefix,
    [names.storageRegion]: environment.storage.region,
    [names.storageEndpoint]: environment.storage.endpoint,
    [names.storageForcePathStyle]: environment.storage.forcePathStyle ? 'true' : undefined,
    [names.storageEncryption]:
      environment.storage.encryption === undefined
        ? undefined
        : environment.storage.encryption.kind === 'sse-s3'
          ? 'sse-s3'
          : `sse-kms:${environment.storage.encryption.keyId}`,
    [names.sealedSecrets]: environment.sealedSecrets,
    [names.cipherKeyId]: environment.cipher?.keyId,
    [names.cipherRegion]: environment.cipher?.region,
    [names.cipherEndpoint]: environment.cipher?.endpoint,
    [names.trustedKeys]: JSON.stringify(environment.trustedKeys),
    [names.gatewayUrl]: environment.gatewayUrl,
    [names.traceparent]: environment.traceContext?.traceparent,
    [names.tracestate]: environment.traceContext?.tracestate,
  };
  return Object.entries(values)
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .map(([name, value]) => ({ name, value }));
}

const required = (name: string) => z.string({ error: `${name} is not set` }).min(1, `${name} is empty`);
const optional = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const environmentSchema = z.object({
  [names.executionId]: required(names.executionId),
  [names.manifestDigest]: required(names.manifestDigest).regex(/^sha256:[0-9a-f]{64}$/, `${names.manifestDigest} must be sha256:<64 hex digits>`),
  [names.storageBucket]: required(names.storageBucket),
  [names.storagePrefix]: optional,
  [names.storageRegion]: optional,
  [names.storageEndpoint]: optional,
  [names.storageForcePathStyle]: z.enum(['true', 'false', '']).optional(),
  [names.storageEncryption]: z
    .string()
    .regex(/^(sse-s3|sse-kms:.+)?$/, `${names.storageEncryption} must be sse-s3 or sse-kms:<KMS key id, alias or ARN>`)
    .optional(),
  [names.sealedSecrets]: optional,
  [names.cipherKeyId]: optional,
  [names.cipherRegion]: optional,
  [names.cipherEndpoint]: optional,
  [names.trustedKeys]: required(names.trustedKeys),
  [names.gatewayUrl]: z
    .union([z.literal(''), z.url({ protocol: /^https?$/, error: `${names.gatewayUrl} must be an http(s) URL` })])
    .optional()
    .transform((value) => (value === '' ? undefined : value)),
  // Checked as the task envelope checks it.
  [names.traceparent]: z
    .union([z.literal(''), taskEnvelopeSchema.shape.traceContext.unwrap().shape.traceparent])
    .optional()
    .transform((value) => (value === '' ? undefined : value)),
  [names.tracestate]: optional,
});

/**
 * Reads a task's environment (`process.env` in the container). Throws CAIRN_CONFIG_INVALID naming
 * the variable that is missing or wrong: the task was not started by this executor, or its task
 * definition overrides a name.
 */
export function readTaskEnvironment(env: Readonly<Record<string, string | undefined>>): TaskEnvironment {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] the task environment is wrong: ${issue.message}. The Fargate executor sets it; start the task through it.`,
      {
        path: String(issue.path[0] ?? ''),
      },
    );
  }
  const values = parsed.data;
  let trustedKeys: PublicKeyRecord[];
  try {
    trustedKeys = z.array(publicKeyRecordSchema).min(1).parse(JSON.parse(values[names.trustedKeys])) as PublicKeyRecord[];
  } catch (error) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] ${names.trustedKeys} is not a JSON array of public key records (keyId, algorithm, publicKey).`,
      {
        path: names.trustedKeys,
        cause: error,
      },
    );
  }
  const encryption = values[names.storageEncryption];
  const sealedSecrets = values[names.sealedSecrets];
  const keyId = values[names.cipherKeyId];
  if (sealedSecrets !== undefined && keyId === undefined) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] ${names.sealedSecrets} is set but ${names.cipherKeyId} is not: nothing can open the secrets.`,
      {
        path: names.cipherKeyId,
      },
    );
  }
  const traceparent = values[names.traceparent];
  const tracestate = values[names.tracestate];
  const gatewayUrl = values[names.gatewayUrl];
  if (gatewayUrl !== undefined && sealedSecrets === undefined) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] ${names.gatewayUrl} is set but ${names.sealedSecrets} is not: the gateway's credential travels sealed, and nothing carries it.`,
      { path: names.sealedSecrets },
    );
  }
  return {
    executionId: values[names.executionId],
    manifestDigest: values[names.manifestDigest],
    storage: {
      bucket: values[names.storageBucket],
      prefix: values[names.storagePrefix] ?? '',
      region: values[names.storageRegion],
      endpoint: values[names.storageEndpoint],
      forcePathStyle: values[names.storageForcePathStyle] === 'true',
      ...(encryption === 'sse-s3'
        ? { encryption: { kind: 'sse-s3' as const } }
        : encryption?.startsWith('sse-kms:')
          ? { encryption: { kind: 'sse-kms' as const, keyId: encryption.slice('sse-kms:'.length) } }
          : {}),
    },
    sealedSecrets,
    ...(keyId !== undefined ? { cipher: { keyId, region: values[names.cipherRegion], endpoint: values[names.cipherEndpoint] } } : {}),
    trustedKeys,
    ...(gatewayUrl !== undefined ? { gatewayUrl } : {}),
    ...(traceparent !== undefined ? { traceContext: { traceparent, ...(tracestate !== undefined ? { tracestate } : {}) } } : {}),
  };
}
