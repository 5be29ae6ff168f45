import type { CipherContext, CipherEnvelope, CipherV1, StorageProviderV1 } from '@cairn/core';
import { CairnError, canonicalJsonBytes, isCairnError } from '@cairn/protocol';

/**
 * Where a task's sealed secrets are kept: one object per execution, written by the executor just
 * before RunTask, deleted by the worker once it has opened them (and by the executor when it sees
 * the task stopped, for a task that never got that far).
 */
export const sealedSecretsKey = (executionId: string): string => `task-secrets/${executionId}.json`;

/**
 * What the sealed secrets are bound to: a copy moved to another execution, or used with another
 * manifest, does not open (the cipher's AEAD and, with KMS, the encryption context CloudTrail
 * records). Names only: KMS logs the context in plain text.
 */
export function sealedSecretsContext(executionId: string, manifestDigest: string): CipherContext {
  return { purpose: 'cairn.task-secrets', executionId, manifestDigest };
}

/**
 * The entry of the sealed object that holds an agent attempt's model gateway credential (ADR 0033),
 * beside the secrets: not an environment variable's name, so no secret can have it, and a worker
 * that does not know it passes it to no runtime (a runtime gets only the secrets its manifest names).
 */
export const gatewayCredentialEntry = 'cairn.gateway.credential';

/** What a task is handed out of band, opened: its secrets, and its gateway credential when it is an agent attempt. */
export interface SealedTaskValues {
  readonly secrets: Record<string, string>;
  readonly gatewayCredential?: string;
}

/**
 * Encrypts a task's secrets (and its gateway credential, when given) with `cipher` and writes them
 * to storage; answers the key.
 */
export async function sealSecrets(
  storage: StorageProviderV1,
  cipher: CipherV1,
  task: {
    readonly executionId: string;
    readonly manifestDigest: string;
    readonly secrets: Readonly<Record<string, string>>;
    readonly gatewayCredential?: string | undefined;
  },
): Promise<string> {
  const values = task.gatewayCredential === undefined ? task.secrets : { ...task.secrets, [gatewayCredentialEntry]: task.gatewayCredential };
  const envelope = await cipher.encrypt(canonicalJsonBytes(values), sealedSecretsContext(task.executionId, task.manifestDigest));
  const key = sealedSecretsKey(task.executionId);
  await storage.put(key, new TextEncoder().encode(JSON.stringify(envelope)), { contentType: 'application/json' });
  return key;
}

/** Reads and decrypts a task's sealed secrets: `openSealedTaskValues` without the gateway credential. */
export async function openSealedSecrets(
  storage: StorageProviderV1,
  cipher: CipherV1,
  task: { readonly executionId: string; readonly manifestDigest: string; readonly key: string },
): Promise<Record<string, string>> {
  return (await openSealedTaskValues(storage, cipher, task)).secrets;
}

/**
 * Reads and decrypts what a task was handed sealed: its secrets and, for an agent attempt, its
 * model gateway credential. CAIRN_SECRET_UNAVAILABLE when the object is gone
 * (opened once already: a task's secrets are for one start) or does not open under this
 * execution's context; the cipher's own CAIRN_CIPHER_UNAVAILABLE when KMS refuses or is down.
 */
export async function openSealedTaskValues(
  storage: StorageProviderV1,
  cipher: CipherV1,
  task: { readonly executionId: string; readonly manifestDigest: string; readonly key: string },
): Promise<SealedTaskValues> {
  const bytes = await storage.get(task.key);
  if (bytes === null) {
    throw new CairnError(
      'CAIRN_SECRET_UNAVAILABLE',
      `The sealed secrets of execution ${task.executionId} are not in storage (${task.key}): they are deleted once opened, so a task whose secrets were opened cannot be started again; the engine starts a new attempt.`,
      { path: 'CAIRN_SEALED_SECRETS' },
    );
  }
  let envelope: CipherEnvelope;
  try {
    envelope = JSON.parse(new TextDecoder().decode(bytes)) as CipherEnvelope;
  } catch (error) {
    throw new CairnError('CAIRN_SECRET_UNAVAILABLE', `The sealed secrets at ${task.key} are not a cipher envelope (not JSON).`, {
      path: 'CAIRN_SEALED_SECRETS',
      cause: error,
    });
  }
  let plaintext: Uint8Array;
  try {
    plaintext = await cipher.decrypt(envelope, sealedSecretsContext(task.executionId, task.manifestDigest));
  } catch (error) {
    if (isCairnError(error, 'CAIRN_CIPHER_DECRYPT_FAILED')) {
      throw new CairnError(
        'CAIRN_SECRET_UNAVAILABLE',
        `The sealed secrets at ${task.key} do not open for execution ${task.executionId} and manifest ${task.manifestDigest}: they were sealed for another task, or altered.`,
        { path: 'CAIRN_SEALED_SECRETS', cause: error },
      );
    }
    throw error;
  }
  let secrets: unknown;
  try {
    secrets = JSON.parse(new TextDecoder().decode(plaintext));
  } catch {
    secrets = undefined;
  } finally {
    plaintext.fill(0);
  }
  if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets) || Object.values(secrets).some((value) => typeof value !== 'string')) {
    throw new CairnError(
      'CAIRN_SECRET_UNAVAILABLE',
      `The sealed secrets at ${task.key} opened, but are not an object of names to strings: they were not sealed by the Fargate executor.`,
      {
        path: 'CAIRN_SEALED_SECRETS',
      },
    );
  }
  const { [gatewayCredentialEntry]: gatewayCredential, ...named } = secrets as Record<string, string>;
  return { secrets: named, ...(gatewayCredential !== undefined ? { gatewayCredential } : {}) };
}
