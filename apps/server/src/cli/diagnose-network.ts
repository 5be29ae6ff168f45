import { existsSync } from 'node:fs';
import type { ServerConfig } from '../config/server-config-schema.ts';

/**
 * What `cairn doctor` says of network allow-lists (ADR 0049) for the configured executor: the local
 * executor with bubblewrap enforces them (each attempt's egress proxy is its sandbox's only way
 * out), which needs Perl for the sandbox's relay and the system's CAs to show a trust bundle over;
 * unsandboxed, on Fargate or on Kubernetes, a run whose item has one is refused at submit. Says what it checked,
 * not that a proxy ran: that is the run's own evidence.
 */
export function diagnoseNetwork(executor: ServerConfig['executor'], note: (check: string, ok: boolean, detail: string, fix?: string) => void): void {
  // A kubernetes executor's `network` is its pods' NetworkPolicy, not bounds on specs.
  const policy = executor.kind === 'kubernetes' ? undefined : executor.network;
  const bounds =
    policy === undefined
      ? ''
      : `; executor.network bounds what a spec may ask (allow: ${policy.allow?.join(', ') ?? 'any host'}; deny: ${policy.deny?.join(', ') || 'none'}; credentials bound for ${Object.keys(policy.credentialHosts ?? {}).join(', ') || 'no secret'})`;
  const check = `network allow-lists (${executor.kind})`;
  if (executor.kind !== 'local' || executor.sandbox === 'none') {
    const why =
      executor.kind === 'local'
        ? "without a sandbox an item shares the server's network"
        : executor.kind === 'kubernetes'
          ? "a pod's NetworkPolicy admits addresses, not names"
          : 'a Fargate task shares its network with its worker';
    note(
      check,
      true,
      `not enforced on this executor (${why}): a run whose item has network: { allow } is refused at submit; network: false (none) and network: true (unrestricted) work${bounds}`,
    );
    return;
  }
  const missing = [
    existsSync('/usr/bin/perl') ? undefined : '/usr/bin/perl (the sandbox relay; apt-get install -y perl-base)',
    existsSync('/etc/ssl/certs/ca-certificates.crt')
      ? undefined
      : '/etc/ssl/certs/ca-certificates.crt (a trust bundle for brokered credentials; apt-get install -y ca-certificates)',
  ].filter((thing) => thing !== undefined);
  if (missing.length > 0) {
    note(
      check,
      false,
      `enforced through each attempt's egress proxy, but this host lacks ${missing.join(' and ')}: such items fail to start${bounds}`,
      `Install ${missing.join(' and ')}.`,
    );
    return;
  }
  note(
    check,
    true,
    `enforced: each allow-listed item's sandbox has no network but its attempt's egress proxy, which admits only the listed hosts, brokers credentials and records every connection${bounds}`,
  );
}
