import type { AuditActor } from '@cairn/core';
import type { SecretRecord } from '@cairn/engine';
import { isCairnError } from '@cairn/protocol';
import type { LoadedServerConfig } from '../config/load-server-config.ts';

/**
 * Who sets a secret in the server's folder: whoever may read its keys is its operator, as the
 * loopback operator is over HTTP; through the command line.
 */
const folderOperator: AuditActor = Object.freeze({ kind: 'user', id: 'operator', via: 'cli' });

/**
 * Sets a secret in the server of `loaded` while that server does not run, the way `cairn token
 * create` writes its token store: through the same composition `cairn serve` makes, so the value is
 * sealed by the server's cipher, stored in its state and the change audited and signed as a running
 * server would. Only with SQLite state, and only while no server holds the data directory (its
 * lock is taken for the while, so none starts meanwhile). Undefined when a server holds it: the
 * caller goes through that server instead. PostgreSQL replicas take commands only through the
 * replica that holds the writer lease, so there it is not tried (undefined).
 * The value goes to the engine only; nothing here prints or logs it.
 */
export async function setSecretInServerFolder(loaded: LoadedServerConfig, name: string, value: string): Promise<SecretRecord | undefined> {
  if (loaded.config.engine.state.kind !== 'sqlite') return undefined;
  const [{ lockDataDirectory }, { composeServer }, { checkServerSigner }] = await Promise.all([
    import('../store/sqlite/data-directory-lock.ts'),
    import('../composition/compose-server.ts'),
    import('./check-server-signer.ts'),
  ]);
  let lock;
  try {
    lock = lockDataDirectory(loaded.paths.dataDirectory);
  } catch (error) {
    if (isCairnError(error, 'CAIRN_LOCK_HELD')) return undefined;
    throw error;
  }
  try {
    // Not probed: nothing of storage or the anchors is used to set a secret.
    const composition = await composeServer(loaded, { probe: false });
    try {
      // The audit entry is signed: by the key the log is signed with, as at a server's start.
      await checkServerSigner(composition, loaded);
      return await composition.service.setSecret(name, value, folderOperator);
    } finally {
      await composition.close();
    }
  } finally {
    lock.release();
  }
}
