import type { ServerConfig } from '../config/server-config-schema.ts';

/**
 * What `cairn doctor` says of network allow-lists (ADR 0049) for the configured executor: none enforces one yet,
 * so a run whose item has `network: { allow }` is refused at submit. A fact about this version,
 * not a fault of the machine: the finding passes, and says what works instead.
 */
export function diagnoseNetwork(executor: ServerConfig['executor'], note: (check: string, ok: boolean, detail: string, fix?: string) => void): void {
  const policy = executor.network;
  const bounds =
    policy === undefined
      ? ''
      : `; executor.network bounds what a spec may ask (allow: ${policy.allow?.join(', ') ?? 'any host'}; deny: ${policy.deny?.join(', ') || 'none'}; credentials bound for ${Object.keys(policy.credentialHosts ?? {}).join(', ') || 'no secret'})`;
  // The one configured executor: deliver items run in the server itself, with no sandbox to confine.
  note(
    `network allow-lists (${executor.kind})`,
    true,
    `not enforced yet: a run whose item has network: { allow } is refused at submit; network: false (none) and network: true (unrestricted) work${bounds}`,
  );
}
