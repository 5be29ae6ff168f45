import type { SignerTakeOver } from '@cairn/engine';
import { CairnError, isCairnError } from '@cairn/protocol/errors';
import type { LoadedServerConfig } from '../config/load-server-config.ts';
import type { ServerComposition } from '../composition/server-composition.ts';

/**
 * Before a server serves: its signer must be the key its audit log is signed with, or hand the
 * log over from `config.previousSigner` (ADR 0019; the engine does the handover). A config whose
 * signer changed without it is refused here, in the config's words, rather than by an engine that
 * would stay not ready behind a listening port. Undefined in PostgreSQL mode, where each replica
 * checks its signer when it takes the writer lease (ADR 0023).
 */
export async function checkServerSigner(composition: Pick<ServerComposition, 'checkSigner'>, loaded: LoadedServerConfig): Promise<SignerTakeOver | undefined> {
  try {
    return await composition.checkSigner();
  } catch (error) {
    if (!isCairnError(error, 'CAIRN_CONFIG_INVALID')) throw error;
    const { keyId, logKeyId, previousKeyId } = error.details as { keyId?: string; logKeyId?: string; previousKeyId?: string };
    const previous =
      previousKeyId === undefined
        ? 'To rotate to the new key, set previousSigner to the old key'
        : `config.previousSigner is ${previousKeyId}, not that key: set previousSigner to the old key`;
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `config.signer's key ${keyId} (${loaded.file}) is not the key this server's audit log is signed with (${logKeyId}): a server never changes its key silently. ${previous} (previousSigner: { kind: local, keyFile: <the old key file> }, or its KMS key), which signs the handover at start; or point signer back at the old key.`,
      { path: previousKeyId === undefined ? 'config.signer' : 'config.previousSigner', cause: error, details: error.details },
    );
  }
}
