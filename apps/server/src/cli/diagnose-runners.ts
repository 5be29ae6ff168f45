import type { TokenStore } from '../capabilities/access/token-store.ts';
import { isLoopbackHost, type ServerConfig } from '../config/server-config-schema.ts';

/**
 * What `cairn doctor` says of runners (ADR 0050), offline: whether the config enables them, their
 * lease time, how many live tokens hold the `runners:run` scope (one per runner), and, with the
 * model gateway on, the address runners' agent attempts reach it at (a loopback one serves only
 * runners on this host). It does not ask a running server which runners are connected: `cairn
 * runners` does, with an admin token.
 */
export async function diagnoseRunners(
  { runners, gateway }: Pick<ServerConfig, 'runners' | 'gateway'>,
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
  if (!gateway.enabled) return;
  // What a runner's attempts are given: the public URL, else the listener's own address.
  const url = gateway.publicUrl ?? `http://${gateway.host}:${gateway.port === 0 ? '<a port chosen at start>' : gateway.port}`;
  const hostname = gateway.publicUrl === undefined ? gateway.host : new URL(gateway.publicUrl).hostname;
  note(
    'runners gateway',
    true,
    isLoopbackHost(hostname)
      ? `agent attempts on runners reach the model gateway at ${url}, this host's loopback: runners on this host can, runners on other hosts cannot (their loopback is their own); for those, set gateway.publicUrl to the server's address as they reach it and gateway.host to an address they can connect to (docs/operations/runners.md)`
      : `agent attempts on runners reach the model gateway at ${url}`,
  );
}
