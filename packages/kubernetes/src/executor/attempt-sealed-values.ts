import type { CipherV1, StorageProviderV1, TaskEnvelope } from '@cairn/core';
import { sealSecrets } from '@cairn/fargate';
import { CairnError, isCairnError } from '@cairn/protocol';

/**
 * Seals an attempt's secrets and gateway credential into storage, as the Fargate executor does, for
 * its worker to open with the task cipher's key; undefined when it has none. Without a cipher that
 * is CAIRN_EXECUTOR_START_FAILED naming `cipher`; storage or KMS out of reach, CAIRN_EXECUTOR_UNAVAILABLE.
 */
export async function sealAttemptValues(
  storage: StorageProviderV1,
  cipher: CipherV1 | undefined,
  hasTaskCipher: boolean,
  task: TaskEnvelope,
  settingsPath: string,
): Promise<string | undefined> {
  const option = (name: string) => `${settingsPath}.${name}`;
  const secrets = task.secrets ?? {};
  const gateway = task.gateway;
  if (Object.keys(secrets).length === 0 && gateway === undefined) return undefined;
  if (!cipher || !hasTaskCipher) {
    const what = Object.keys(secrets).length > 0 ? 'has secrets' : 'is an agent attempt, whose model gateway credential is sealed for its pod,';
    throw new CairnError(
      'CAIRN_EXECUTOR_START_FAILED',
      `[cairn] [kubernetes] execution ${task.executionId} ${what} and the executor has no cipher to seal with: set ${option('cipher')} and ${option('taskCipher')} (a KMS key the pod's credential may decrypt with).`,
      { path: option('cipher') },
    );
  }
  try {
    return await sealSecrets(storage, cipher, {
      executionId: task.executionId,
      manifestDigest: task.manifestDigest,
      secrets,
      gatewayCredential: gateway?.credential,
    });
  } catch (error) {
    if (isCairnError(error, 'CAIRN_CIPHER_UNAVAILABLE') || isCairnError(error, 'CAIRN_STORAGE_UNAVAILABLE')) {
      throw new CairnError(
        'CAIRN_EXECUTOR_UNAVAILABLE',
        `[cairn] [kubernetes] the secrets of execution ${task.executionId} could not be sealed (${error.code}: ${error.message}); the start is tried again.`,
        { path: option('cipher'), cause: error },
      );
    }
    throw error;
  }
}
