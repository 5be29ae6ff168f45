import type { TokenStore } from '../capabilities/access/token-store.ts';
import type { ServerConfig } from '../config/server-config-schema.ts';

/**
 * What `cairn doctor` says of runners (ADR 0050), offline: whether the config enables them, their
 * lease time, and how many live tokens hold the `runners:run` scope (one per runner). It does not
 * ask a running server which runners are connected: `cairn runners` does, with an admin token.
 */
export async function diagnoseRunners(
  runners: ServerConfig['runners'],
  tokens: Pick<TokenStore, 'list'>,
  note: (check: string, ok: boolean, detail: string, fix?: string) => void,
): Promise<void> {
  if (!runners.enabled) {
    note(
      'runners',
      true,
      'not enabled (runners.enabled: false): an item naming executor: runners fails at dispatch with CAIRN_CONFIG_INVALID (no executor named "runners")',
    );
    return;
  }
  const now = Date.now();
  const live = (await tokens.list()).filter(
    (record) =>
      record.scopes.includes('runners:run') && record.revokedAt === undefined && (record.expiresAt === undefined || Date.parse(record.expiresAt) > now),
  );
  const lease = `enabled, leaseSeconds ${runners.leaseSeconds}: a runner silent that long loses its attempts (recorded lost, run again)`;
  note(
    'runners',
    live.length > 0,
    live.length > 0
      ? `${lease}; ${live.length} live runners:run token${live.length === 1 ? '' : 's'} (${live.map((record) => record.name).join(', ')}); cairn runners lists those connected to the running server`
      : `${lease}; no live token has the runners:run scope, so no runner can poll and items on executor: runners wait`,
    'make one token per runner: cairn token create --name build-1 --scope runners:run (docs/operations/runners.md)',
  );
}
