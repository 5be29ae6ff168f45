import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { CairnError, hostEntryProblem, parseHostEntry, type ValidationIssue } from '@cairn/protocol';

/** One parsed allow or deny entry: `host`, `*.domain`, either with `:port`. */
export interface EgressEntry {
  /** The entry as it was written, which is what a record names as its rule. */
  readonly text: string;
  /** The name in ASCII (IDNA), lower-case, without a trailing dot; for a wildcard, the domain below which it matches. */
  readonly host: string;
  /** `*.domain`: any name strictly below the domain, never the domain itself. */
  readonly wildcard: boolean;
  /** The port written, or undefined: then 443 and 80 for an allow entry, every port for a deny entry. */
  readonly port: number | undefined;
}

/** What the allow-list says of a host and port: the rule that admits it, or why not. */
export type EgressMatch =
  | { readonly admitted: true; readonly rule: string }
  | {
      readonly admitted: false;
      /** The deny entry that refused it; undefined when no allow entry matched. */
      readonly rule: string | undefined;
      readonly reason: 'ip-literal' | 'denied' | 'not-allowed' | 'invalid-host';
      readonly message: string;
      /** The allow entry that would admit it, when one could (never for a denied or IP-literal target). */
      readonly wouldAdmit: string | undefined;
    };

// A DNS label: letters, digits, hyphens inside (and underscores, which real service names carry).
const labelPattern = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const namePattern = /^[\p{L}\p{M}\p{N}._-]+$/u;
const defaultPorts: readonly number[] = [443, 80];

/**
 * A host name as the proxy compares it: IDNA to ASCII, lower-case, without a trailing dot. Undefined
 * when it is not a host name; an IP literal (in any form the URL parser reads as one, such as
 * `0x7f.1`) comes back as the address it names, for the caller to refuse.
 */
export function normalizeHostName(name: string): string | undefined {
  const bracketed = /^\[(.*)\]$/.exec(name);
  if (bracketed !== null) return isIP(bracketed[1]!) === 6 ? bracketed[1]!.toLowerCase() : undefined;
  if (isIP(name) !== 0) return name.toLowerCase();
  // domainToASCII parses a URL's host: it cuts `example.com/path` or `a?b` at the delimiter and decodes
  // `%41`, so only the characters of a name reach it, or a name could read as another.
  if (!namePattern.test(name)) return undefined;
  const ascii = domainToASCII(name);
  if (ascii === '') return undefined;
  const host = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (isIP(host) !== 0) return host;
  if (host.length === 0 || host.length > 253 || !host.split('.').every((label) => labelPattern.test(label))) return undefined;
  return host;
}

/**
 * An entry parsed, or what is wrong with it: the syntax is the run spec's (`hostEntryProblem` of
 * `@cairn/protocol`, which checked the entries of a spec and the server's policy before they got
 * here), so the proxy and the submit check never disagree on what an entry is.
 */
export function parseEgressEntry(text: string): EgressEntry | { readonly invalid: string } {
  const problem = hostEntryProblem(text);
  if (problem !== undefined) return { invalid: problem };
  const { name, wildcard, ports } = parseHostEntry(text);
  // A port written is the one port; none written means 443 and 80 to allow, every port to deny (below).
  return { text, host: name, wildcard, port: text.includes(':') ? ports[0] : undefined };
}

function entryMatches(entry: EgressEntry, host: string, port: number, portsWhenUnset: readonly number[] | 'any'): boolean {
  const nameMatches = entry.wildcard ? host.endsWith(`.${entry.host}`) : host === entry.host;
  if (!nameMatches) return false;
  if (entry.port !== undefined) return entry.port === port;
  return portsWhenUnset === 'any' || portsWhenUnset.includes(port);
}

/**
 * The allow and deny entries of an attempt's network, matched as ADR 0049 says: deny wins, an
 * unlisted name is refused, and an IP literal is never admitted whatever the lists hold.
 */
export class EgressAllowList {
  readonly #allow: readonly EgressEntry[];
  readonly #deny: readonly EgressEntry[];

  /** Throws CAIRN_CONFIG_INVALID naming every invalid entry by its path under `where` (`network.allow[2]`). */
  constructor(allow: readonly string[], deny: readonly string[] = [], where = 'network') {
    const issues: ValidationIssue[] = [];
    const parse = (texts: readonly string[], list: string): EgressEntry[] =>
      texts.flatMap((text, index) => {
        const parsed = parseEgressEntry(text);
        if ('invalid' in parsed) {
          issues.push({ code: 'CAIRN_CONFIG_INVALID', path: `${where}.${list}[${index}]`, message: `${JSON.stringify(text)} ${parsed.invalid}` });
          return [];
        }
        return [parsed];
      });
    this.#allow = parse(allow, 'allow');
    this.#deny = parse(deny, 'deny');
    if (issues.length > 0)
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `[cairn] [egress] invalid entries: ${issues.map((issue) => `"${issue.path}" ${issue.message}`).join('; ')}.`,
        { path: issues[0]!.path, issues, action: 'Write each entry as `host`, `*.domain`, or either with `:port`.' },
      );
  }

  /** Decides a connection to `name` (as the client wrote it) on `port`. */
  match(name: string, port: number): EgressMatch {
    const host = normalizeHostName(name);
    if (host === undefined)
      return { admitted: false, rule: undefined, reason: 'invalid-host', message: `${JSON.stringify(name)} is not a host name`, wouldAdmit: undefined };
    if (isIP(host) !== 0)
      return {
        admitted: false,
        rule: undefined,
        reason: 'ip-literal',
        message: `${host} is an IP address; the network is reached by host name only`,
        wouldAdmit: undefined,
      };
    // A deny entry without a port denies the name on every port: what a deny names must not be reachable at all.
    const denied = this.#deny.find((entry) => entryMatches(entry, host, port, 'any'));
    if (denied !== undefined)
      return {
        admitted: false,
        rule: denied.text,
        reason: 'denied',
        message: `${host}:${port} is denied by "${denied.text}"`,
        wouldAdmit: undefined,
      };
    const allowed = this.#allow.find((entry) => entryMatches(entry, host, port, defaultPorts));
    if (allowed !== undefined) return { admitted: true, rule: allowed.text };
    const entry = defaultPorts.includes(port) ? host : `${host}:${port}`;
    return {
      admitted: false,
      rule: undefined,
      reason: 'not-allowed',
      message: `${host}:${port} is not on the allow-list`,
      wouldAdmit: entry,
    };
  }
}
