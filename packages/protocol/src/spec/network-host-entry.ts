/**
 * Allow-list entries of an item's network (ADR 0049): a host name, `*.domain` (any name below the
 * domain, not the domain itself), either with `:port`. Without a port an entry admits 443 and 80.
 * Names are compared lower-cased without a trailing dot. This file holds the syntax and the
 * "does one entry admit all another admits" relation that both the spec's own checks (a
 * credential's host) and the server's policy (`executor.network`) use.
 */

/** An entry taken apart: the name without `*.`, whether it is a wildcard, and the ports it admits. */
export interface HostEntry {
  readonly name: string;
  readonly wildcard: boolean;
  readonly ports: readonly number[];
}

const defaultPorts = [443, 80] as const;
const labelPattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * What is wrong with `entry` as an allow entry (a sentence to follow its JSON path), or undefined
 * when it is one. `wildcards: false` for a credential's host, which names one host.
 */
export function hostEntryProblem(entry: string, options: { readonly wildcards?: boolean } = {}): string | undefined {
  const wildcards = options.wildcards ?? true;
  const example = wildcards ? 'registry.npmjs.org, *.githubusercontent.com or api.example.com:8443' : 'api.github.com or api.example.com:8443';
  if (entry.includes('[') || (entry.match(/:/g)?.length ?? 0) > 1) return addressProblem(entry, example);
  const [host = '', port, ...rest] = entry.split(':');
  if (rest.length > 0) return `must be a host name with an optional :port, e.g. ${example}`;
  if (port !== undefined && !(/^[1-9][0-9]{0,4}$/.test(port) && Number(port) <= 65_535)) {
    return `has the port ${JSON.stringify(port)}: a port is a whole number from 1 to 65535 (leave it out for 443 and 80)`;
  }
  const wildcard = host.startsWith('*.');
  if (wildcard && !wildcards) return `names one host, so it takes no wildcard: write the host the secret is sent to, e.g. ${example}`;
  const name = (wildcard ? host.slice(2) : host).toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return `must be a host name of 1 to 253 characters, e.g. ${example}`;
  const labels = name.split('.');
  if (labels.every((label) => /^[0-9]+$/.test(label)) || /^(0x[0-9a-f]*|[0-9]+)$/.test(labels.at(-1)!)) return addressProblem(entry, example);
  if (host.includes('*', wildcard ? 2 : 0)) return `may hold "*" only as its first label ("*.example.com" admits every name below example.com)`;
  if (!labels.every((label) => labelPattern.test(label))) {
    return `must be a host name: labels of letters, digits and "-" (not first or last) joined by "."; write an internationalised name in its ASCII form (xn--…), e.g. ${example}`;
  }
  if (wildcard && labels.length < 2) return `would admit every name of the top-level domain ${JSON.stringify(name)}: name a domain below it (*.example.com)`;
  return undefined;
}

function addressProblem(entry: string, example: string): string {
  return `is an IP address (${JSON.stringify(entry)}): name hosts, not addresses — the proxy resolves names itself and refuses private and local addresses. Write a host name, e.g. ${example}`;
}

/** Takes a valid entry apart (see `hostEntryProblem`). */
export function parseHostEntry(entry: string): HostEntry {
  const [host = '', port] = entry.toLowerCase().split(':');
  const wildcard = host.startsWith('*.');
  const name = (wildcard ? host.slice(2) : host).replace(/\.$/, '');
  return { name, wildcard, ports: port === undefined ? defaultPorts : [Number(port)] };
}

/** Whether `outer` admits every name `inner` admits (ports aside). */
function nameCovers(outer: HostEntry, inner: HostEntry): boolean {
  if (!outer.wildcard) return !inner.wildcard && inner.name === outer.name;
  // `*.a.b` admits names below a.b, so it covers `x.a.b` and `*.a.b` and `*.x.a.b`, never `a.b`.
  return inner.name.endsWith(`.${outer.name}`) || (inner.wildcard && inner.name === outer.name);
}

/** Whether the entries of `list` together admit every host and port `entry` admits. */
export function entriesCover(list: readonly HostEntry[], entry: HostEntry): boolean {
  return entry.ports.every((port) => list.some((outer) => outer.ports.includes(port) && nameCovers(outer, entry)));
}
