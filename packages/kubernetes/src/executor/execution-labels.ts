import { createHash } from 'node:crypto';

/** The labels and annotation the executor puts on what it creates for an attempt. */
export const executionLabels = {
  /** Every object the executor creates: what its watch selects. */
  managedBy: 'app.kubernetes.io/managed-by',
  /** The digest of the execution id (`executionDigestOf`): a label value cannot hold its `/`. */
  execution: 'cairn.dev/execution',
  run: 'cairn.dev/run',
  item: 'cairn.dev/item',
  attempt: 'cairn.dev/attempt',
  /** The digest of the storage location the pod's results go to (`ownerDigestOf`): whose pods a sweep may delete. */
  owner: 'cairn.dev/owner',
  /** An annotation (any text fits): the execution id itself, which the executor checks a pod against. */
  executionId: 'cairn.dev/execution-id',
} as const;

export const managedByValue = 'cairn';

/** The label selector of every attempt pod an executor made (whatever its instance). */
export const attemptPodSelector = `${executionLabels.managedBy}=${managedByValue},${executionLabels.execution}`;

/**
 * The execution id's digest: 40 hex digits of its SHA-256 (160 bits), short enough for a label
 * value (63 characters) and, after `cairn-`, for a pod name that is also its hostname (63).
 */
export function executionDigestOf(executionId: string): string {
  return createHash('sha256').update(executionId, 'utf8').digest('hex').slice(0, 40);
}

/**
 * Whose attempt pods these are: the digest of the storage location their results go to. One
 * server (all its replicas) writes one location, and two servers cannot share one (their result
 * records would collide), so it tells a server's own pods from another's in a shared namespace
 * without a setting of its own.
 */
export function ownerDigestOf(storage: { readonly bucket: string; readonly prefix?: string | undefined; readonly endpoint?: string | undefined }): string {
  return executionDigestOf(JSON.stringify([storage.endpoint ?? null, storage.bucket, storage.prefix ?? '']));
}

/**
 * The pod of an execution: named after its digest, so that a second start of the same execution
 * (a retry, a restarted server) meets the first one's pod (409 AlreadyExists) instead of making
 * another.
 */
export function podNameOf(executionId: string): string {
  return `cairn-${executionDigestOf(executionId)}`;
}

/** The Secret holding the attempt's credential, owned by its pod. */
export const credentialSecretNameOf = (podName: string): string => `${podName}-credential`;

/** The NetworkPolicy confining the attempt's pod, owned by it. */
export const networkPolicyNameOf = (podName: string): string => `${podName}-egress`;

/**
 * `text` as a label value: at most 63 characters of `[A-Za-z0-9._-]`, starting and ending with a
 * letter or digit; other characters become `-`. For reading a pod list (`kubectl get pods -l
 * cairn.dev/run=…`), never to identify: the annotation holds the exact execution id.
 */
export function labelValueOf(text: string): string {
  return text
    .replaceAll(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}
