import { verifyAuditLog, type AuditLogVerification, type TrustedAnchor } from '@cairn/audit';
import type { LoadedServerConfig } from '../../config/load-server-config.ts';
import { openPostgresLogSource } from './store/postgres-log-source.ts';
import { serverSigningKey } from './server-trust.ts';
import { openSqliteLogSource } from './store/sqlite-log-source.ts';

/**
 * `cairn audit verify-log`: the server's whole audit log, read from where it keeps the engine's
 * state (its SQLite database read-only, or the PostgreSQL database of `engine.state`; a page of
 * rows at a time, never the whole log), checked against every checkpoint it issued with the
 * server's own signing key, and with `anchors` (`--online`) against the anchors too. The log's
 * length is fixed when the check starts: entries a running server appends meanwhile are left out.
 * The stored Merkle subtrees only locate an edited entry (among 16); the verdict rests on the
 * signed roots.
 */
export async function verifyServerLog(
  loaded: LoadedServerConfig,
  options: { readonly anchors?: readonly TrustedAnchor[] } = {},
): Promise<AuditLogVerification> {
  const key = await serverSigningKey(loaded);
  const { state } = loaded.config.engine;
  const source = state.kind === 'postgres' ? await openPostgresLogSource(state) : openSqliteLogSource(loaded);
  try {
    return await verifyAuditLog(source.entries(), source.checkpoints(), {
      trustedKeys: [key],
      origin: loaded.config.engine.origin,
      ...(options.anchors && options.anchors.length > 0 ? { trustedAnchors: options.anchors } : {}),
      storedSubtrees: source.storedSubtrees,
    });
  } finally {
    await source.close();
  }
}
