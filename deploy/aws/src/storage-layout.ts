// What the stack's policies name: the prefixes the server's config uses, the storage keys a worker
// task touches, and the context its sealed secrets carry. One place, so a policy and the test that
// checks it cannot disagree on a prefix.

/**
 * Where the server keeps its objects in the storage bucket and its checkpoints in the anchor
 * bucket: the `prefix` of `storage` and of the `s3-object-lock` anchor in the server's config
 * (docs/operations/aws.md). Fixed here so every policy can name exact key prefixes.
 */
export const storagePrefix = 'cairn/';
export const anchorPrefix = 'checkpoints/';

/**
 * The storage keys a worker task reads and writes (`@cairn/protocol`'s storage keys and ADR 0021):
 * it reads its signed manifest, the delegation statement of the key that signed it (ADR 0020: a
 * server on a KMS key signs manifests with a key it delegates to), the blobs it names, its sealed
 * secrets and an earlier result record of its attempt; writes blobs (patches, logs, outputs), its result record and its live log;
 * deletes its sealed secrets once opened and its live log's segments. The S3 storage's start-up
 * probe writes and removes one object under its own folder (`.cairn\\probe/`).
 */
export const workerReadPrefixes = ['manifests/', 'delegations/', 'blobs/', 'results/', 'task-secrets/'] as const;
export const workerWritePrefixes = ['blobs/', 'results/', 'live-logs/'] as const;
export const workerDeletePrefixes = ['task-secrets/', 'live-logs/'] as const;
export const sealedSecretsPrefix = 'task-secrets/';
export const storageProbeFolder = '.cairn\\probe/';

/** The name of the worker's container in the task definition (the executor's container override names it). */
export const workerContainerName = 'cairn-worker';

/**
 * The encryption context a task's sealed secrets carry (`{ purpose, executionId, manifestDigest }`,
 * ADR 0021): the task role may decrypt with the encryption key only under this purpose, so a task
 * can never open the server's stored secrets (sealed under `{ secret, version }`) with the same key.
 */
export const taskSecretsContextKey = 'purpose';
export const taskSecretsContextValue = 'cairn.task-secrets';
