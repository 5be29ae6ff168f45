import { randomBytes } from 'node:crypto';
import { CairnError, type ValidationIssue } from '@cairn/protocol';
import { normalizeHostName } from './allow-list.ts';
import { hopByHopHeaders } from './forwarded-headers.ts';

/**
 * One credential binding as settings give it (ADR 0049): the secret's placeholder replaced in
 * requests to `host`, and, with `header`, that header set to `value` (`{secret}` standing for the
 * secret) on requests that lack it. Without a header the client must send the placeholder itself
 * (an `.npmrc` token, git's password): the proxy only swaps it.
 */
export interface CredentialBindingSettings {
  readonly host: string;
  readonly secret: string;
  readonly header?: string | undefined;
  readonly value?: string | undefined;
}

/** Request headers as the proxy forwards them: lower-case names, every value of each. */
export type RequestHeaders = Record<string, string[]>;

/** What a request carries to a host: passed on with its headers rewritten, or refused for the placeholders it holds. */
export type BrokeredRequest = { readonly headers: RequestHeaders } | { readonly elsewhere: readonly string[] };

interface Binding {
  readonly secret: string;
  /** The header set when the client sent none, with its template; absent: the placeholder is only swapped. */
  readonly header: { readonly name: string; readonly value: string } | undefined;
}

// RFC 9110 §5.1: a field name is a token.
const tokenPattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What a header value may hold once the secret is in it; a line break would start a header of the client's choosing.
const headerTextPattern = /^[\t\x20-\x7e]*$/;
const basicPattern = /^(\s*basic\s+)([A-Za-z0-9+/=]+)(\s*)$/i;

/**
 * The credential side of the proxy: which hosts have a binding, the placeholder the sandbox holds
 * for each secret, and what a request's headers become on its way to a host. A placeholder is made
 * of 32 random bytes per proxy, so it names its secret for this attempt alone and is worthless
 * anywhere but at its bound host, where the proxy swaps in the value.
 */
export class CredentialBroker {
  /** Secret name to placeholder, one per bound secret. */
  readonly placeholders: Readonly<Record<string, string>>;
  readonly #bindings = new Map<string, Binding>();
  readonly #secrets: Readonly<Record<string, string>>;

  /**
   * Throws CAIRN_CONFIG_INVALID naming each bad binding field under `where.credentials[i]`: a host
   * that is not a plain name or that `admitted` refuses, a host bound twice, a header that is not a
   * field name or is one the proxy owns, a value without `{secret}`, a secret not given or that a
   * header cannot carry. No message holds a secret's value.
   */
  constructor(
    credentials: readonly CredentialBindingSettings[],
    secrets: Readonly<Record<string, string>>,
    admitted: (host: string) => boolean,
    where = 'egress',
  ) {
    const issues: ValidationIssue[] = [];
    const issue = (index: number, field: string, message: string) =>
      issues.push({ code: 'CAIRN_CONFIG_INVALID', path: `${where}.credentials[${index}].${field}`, message });
    credentials.forEach((credential, index) => {
      // A spec may name the host with its port (`api.example.com:8443`); the host is what a
      // credential is bound to, on whichever port the allow-list admits it.
      const name = /^[^:]+:[0-9]{1,5}$/.test(credential.host) ? credential.host.slice(0, credential.host.lastIndexOf(':')) : credential.host;
      const host = normalizeHostName(name);
      if (host === undefined || name.includes('*') || name.includes(':'))
        issue(index, 'host', `${JSON.stringify(credential.host)} is not a host name; a binding names one host (and at most a port)`);
      else if (!admitted(host)) issue(index, 'host', `${host} is not admitted by the allow-list; a credential is only for a host the attempt may reach`);
      else if (this.#bindings.has(host)) issue(index, 'host', `${host} is bound twice; a host has one credential`);
      const header = credential.header?.toLowerCase();
      if (credential.header === undefined) {
        if (credential.value !== undefined) issue(index, 'header', 'is missing: a value is set as a header; name it, as in Authorization');
      } else if (!tokenPattern.test(credential.header)) issue(index, 'header', `${JSON.stringify(credential.header)} is not an HTTP header name`);
      else if (header === 'host' || hopByHopHeaders.has(header!)) issue(index, 'header', `${credential.header} is set by the proxy, not by a binding`);
      if (credential.value === undefined) {
        if (credential.header !== undefined) issue(index, 'value', 'is missing: write what the header holds, as in "Bearer {secret}"');
      } else if (!credential.value.includes('{secret}')) issue(index, 'value', 'holds no {secret}; write where the secret goes, as in "Bearer {secret}"');
      else if (!headerTextPattern.test(credential.value.replaceAll('{secret}', ''))) issue(index, 'value', 'holds a character a header cannot carry');
      const value = Object.hasOwn(secrets, credential.secret) ? secrets[credential.secret] : undefined;
      if (value === undefined) issue(index, 'secret', `${JSON.stringify(credential.secret)} is not a secret granted to the attempt`);
      else if (!headerTextPattern.test(value)) issue(index, 'secret', `the value of ${credential.secret} holds a character a header cannot carry`);
      const set = header !== undefined && credential.value !== undefined ? { name: header, value: credential.value } : undefined;
      if (host !== undefined && !this.#bindings.has(host)) this.#bindings.set(host, { secret: credential.secret, header: set });
    });
    if (issues.length > 0)
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `[cairn] [${where}] invalid credentials: ${issues.map((entry) => `"${entry.path}" ${entry.message}`).join('; ')}.`,
        { path: issues[0]!.path, issues, action: 'Bind each credential to one allowed host, with a header name and a value holding {secret}.' },
      );
    this.#secrets = secrets;
    const placeholders: Record<string, string> = {};
    for (const { secret } of this.#bindings.values()) placeholders[secret] ??= `cairn-placeholder-${randomBytes(32).toString('base64url')}`;
    this.placeholders = Object.freeze(placeholders);
  }

  get hosts(): readonly string[] {
    return [...this.#bindings.keys()];
  }

  /** The secret bound to `host` (a normalised name), or undefined when the host has none. */
  secretFor(host: string): string | undefined {
    return this.#bindings.get(host)?.secret;
  }

  /**
   * The names of the secrets whose placeholder a request holds, in its target or any header (and
   * inside a Basic `Authorization`, base64 to the eye). A body is not read: the proxy streams it.
   */
  placeholdersIn(target: string, headers: RequestHeaders): string[] {
    const texts = [target, ...Object.values(headers).flat()];
    for (const value of headers.authorization ?? []) {
      const basic = basicPattern.exec(value);
      if (basic !== null) texts.push(Buffer.from(basic[2]!, 'base64').toString('latin1'));
    }
    return Object.entries(this.placeholders)
      .filter(([, placeholder]) => texts.some((text) => text.includes(placeholder)))
      .map(([secret]) => secret);
  }

  /**
   * A request to `host`, which has a binding, over TLS the proxy terminated: refused when it holds
   * another secret's placeholder; otherwise its headers with the bound placeholder replaced by the
   * value wherever it stands, and the binding's header set from its template when the client sent none.
   */
  broker(host: string, target: string, headers: RequestHeaders): BrokeredRequest {
    const binding = this.#bindings.get(host);
    if (binding === undefined) throw new Error(`${host} has no credential binding`);
    const elsewhere = this.placeholdersIn(target, headers).filter((secret) => secret !== binding.secret);
    if (elsewhere.length > 0) return { elsewhere };
    const placeholder = this.placeholders[binding.secret]!;
    const value = this.#secrets[binding.secret]!;
    const rewritten: RequestHeaders = {};
    for (const [name, values] of Object.entries(headers))
      rewritten[name] = values.map((text) => (name === 'authorization' ? replaceInBasic(text, placeholder, value) : text).replaceAll(placeholder, value));
    if (binding.header !== undefined) rewritten[binding.header.name] ??= [binding.header.value.replaceAll('{secret}', value)];
    return { headers: rewritten };
  }
}

/** git sends `Basic base64(user:password)`; the placeholder it was given as a password is replaced inside. */
function replaceInBasic(text: string, placeholder: string, value: string): string {
  const basic = basicPattern.exec(text);
  if (basic === null) return text;
  // latin1 both ways keeps every byte of the pair as it was, whatever its encoding; the value is ASCII (checked at start).
  const pair = Buffer.from(basic[2]!, 'base64').toString('latin1');
  if (!pair.includes(placeholder)) return text;
  const replaced = pair.replaceAll(placeholder, value);
  return `${basic[1]!}${Buffer.from(replaced, 'latin1').toString('base64')}${basic[3]!}`;
}
