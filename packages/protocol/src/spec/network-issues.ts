import type { ItemSpec, NetworkAllowListSpec, RunSpecV1 } from '@cairn/core';
import type { ValidationIssue } from '../errors/cairn-error.ts';
import { entriesCover, hostEntryProblem, parseHostEntry } from './network-host-entry.ts';

/**
 * The server's bounds on the allow-lists a spec may hold (its `executor.network`): an entry outside
 * `allow` (when given), or wholly inside `deny`, is refused, and a credential may go only to a host
 * its secret is bound to in `credentialHosts` (a secret bound to none goes nowhere). A `deny` entry
 * that overlaps an allow entry only in part is the proxy's to apply, connection by connection.
 */
export interface NetworkPolicy {
  readonly allow?: readonly string[] | undefined;
  readonly deny?: readonly string[] | undefined;
  readonly credentialHosts?: Readonly<Record<string, readonly string[]>> | undefined;
}

/** What `networkIssues` reads of the server: its policy, and which of its executors enforce allow-lists. */
export interface NetworkContext {
  /** Absent, not checked (validation without a server); a server passes `{}` at least, which binds no secret to any host. */
  readonly networkPolicy?: NetworkPolicy;
  /**
   * The executors that confine an item to its attempt's egress proxy (ADR 0049): an item with an
   * allow-list that runs anywhere else is refused rather than run with more network, or none, than
   * its spec says. Absent, not checked (validation without a server).
   */
  readonly networkAllowListExecutors?: readonly string[];
  /** The executor of an item that names none and whose run's defaults name none. */
  readonly defaultExecutor?: string;
}

const option = 'executor.network';

/**
 * The problems of the spec's allow-lists that need the whole spec or the server in view: a
 * credential naming a secret its item does not name, entries the server's policy refuses, and
 * allow-lists where the server cannot enforce them. An item's network is its own, or the
 * defaults' (reported at `$.defaults.network` once, naming the items that inherit it).
 */
export function networkIssues(spec: RunSpecV1, context: NetworkContext): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ code: 'CAIRN_RUN_SPEC_INVALID', path, message });
  const defaults = spec.defaults?.network;
  const policy = context.networkPolicy;
  if (typeof defaults === 'object' && policy) policyIssues(defaults, '$.defaults.network', policy, issue);
  const inheriting: ItemSpec[] = [];
  spec.items.forEach((item, index) => {
    const path = `$.items[${index}].network`;
    if (item.network === undefined && typeof defaults === 'object') inheriting.push(item);
    if (typeof item.network !== 'object') return;
    if (policy) policyIssues(item.network, path, policy, issue);
    item.network.credentials?.forEach((credential, position) => {
      if (item.secrets?.includes(credential.secret)) return;
      issue(
        `${path}.credentials[${position}].secret`,
        `names the secret ${credential.secret}, which this item is not given: add it to the item's secrets (secrets: [${[...(item.secrets ?? []), credential.secret].join(', ')}]), or name one of its secrets.`,
      );
    });
    const refusal = unenforced(item, spec, context);
    if (refusal !== undefined) issue(path, refusal);
  });
  if (typeof defaults === 'object') {
    defaults.credentials?.forEach((credential, position) => {
      const without = inheriting.filter((item) => !item.secrets?.includes(credential.secret)).map((item) => item.id);
      if (without.length === 0) return;
      issue(
        `$.defaults.network.credentials[${position}].secret`,
        `names the secret ${credential.secret}, which ${without.length === 1 ? 'item' : 'items'} ${without.slice(0, 5).join(', ')}${without.length > 5 ? ', …' : ''} inheriting this network ${without.length === 1 ? 'is' : 'are'} not given: add it to their secrets, or set their own network.`,
      );
    });
    const refusals = [...new Set(inheriting.map((item) => unenforced(item, spec, context)).filter((refusal) => refusal !== undefined))];
    for (const refusal of refusals) issue('$.defaults.network', refusal);
  }
  return issues;
}

/** Why the item's allow-list cannot be kept where it runs: its executor does not confine it to the proxy. */
function unenforced(item: ItemSpec, spec: RunSpecV1, context: NetworkContext): string | undefined {
  const enforcing = context.networkAllowListExecutors;
  if (enforcing === undefined) return undefined;
  const executor = item.executor ?? spec.defaults?.executor ?? context.defaultExecutor;
  if (executor !== undefined && enforcing.includes(executor)) return undefined;
  const where =
    enforcing.length === 0
      ? `no executor of this server does`
      : `only executor${enforcing.length === 1 ? '' : 's'} ${enforcing.map((name) => JSON.stringify(name)).join(', ')} ${enforcing.length === 1 ? 'does' : 'do'}`;
  return `is an allow-list, which executor ${JSON.stringify(executor ?? '(default)')} cannot enforce (ADR 0049: nothing would keep the item to the hosts it lists); ${where}. Run the item on an executor that enforces allow-lists, or use network: false (no network) or network: true (unrestricted).`;
}

function policyIssues(network: NetworkAllowListSpec, path: string, policy: NetworkPolicy, issue: (path: string, message: string) => void): void {
  // The server's config checks its entries; one that is malformed all the same admits nothing.
  const parsed = (entries: readonly string[] | undefined) => entries?.filter((entry) => hostEntryProblem(entry) === undefined).map(parseHostEntry);
  const allow = parsed(policy.allow);
  const deny = parsed(policy.deny) ?? [];
  network.allow.forEach((entry, index) => {
    const parsedEntry = parseHostEntry(entry);
    if (allow !== undefined && !entriesCover(allow, parsedEntry)) {
      issue(
        `${path}.allow[${index}]`,
        `admits ${JSON.stringify(entry)}, which this server's network policy does not allow (${option}.allow: ${policy.allow!.join(', ') || 'nothing'}). Ask an admin to add it to ${option}.allow in the server's config, or remove it.`,
      );
    } else if (entriesCover(deny, parsedEntry)) {
      issue(
        `${path}.allow[${index}]`,
        `admits only hosts this server's network policy denies (${option}.deny). Remove it, or ask an admin to change ${option}.deny in the server's config.`,
      );
    }
  });
  network.credentials?.forEach((credential, index) => {
    const bound = parsed(policy.credentialHosts?.[credential.secret]) ?? [];
    if (entriesCover(bound, parseHostEntry(credential.host))) return;
    const hosts = policy.credentialHosts?.[credential.secret];
    issue(
      `${path}.credentials[${index}].host`,
      `sends the secret ${credential.secret} to ${JSON.stringify(credential.host)}, a host this server does not bind it to (${option}.credentialHosts.${credential.secret}: ${hosts?.join(', ') || 'none'}). Send it to a bound host, or ask an admin to add the host to ${option}.credentialHosts.${credential.secret} in the server's config.`,
    );
  });
}
