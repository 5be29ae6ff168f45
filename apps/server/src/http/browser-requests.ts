import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { CairnError } from '@cairn/protocol';
import { isLoopback } from './loopback.ts';

/**
 * The host names a server answers to: a request naming any other in its `Host` header is refused
 * before anything else, so a page on a name its attacker controls, re-pointed at this machine
 * (DNS rebinding), never reaches the API. An IP literal cannot be rebound, nor can `localhost`
 * and `*.localhost` (a browser resolves those itself): they are always answered. Other names are
 * answered when configured (`server.allowedHosts`), or — only when the server binds every
 * interface (0.0.0.0, ::) and none is configured — all of them, since it then serves whatever
 * name points at it; `cairn serve` logs a warning saying so.
 */
export interface HostNames {
  /** Names answered besides IP literals and localhost, lower-case; `any` for every name. */
  readonly names: ReadonlySet<string> | 'any';
}

/** The names a server bound to `bindHost` answers to, given the configured `allowedHosts`. */
export function hostNamesOf(bindHost: string, allowedHosts: readonly string[]): HostNames {
  const wildcard = bindHost === '0.0.0.0' || bindHost === '::';
  if (wildcard && allowedHosts.length === 0) return { names: 'any' };
  return { names: new Set([...allowedHosts, ...(isIP(bindHost) === 0 ? [bindHost] : [])].map((name) => name.toLowerCase())) };
}

/**
 * Whether a request comes from a page in a browser: browsers send `Origin` on every request but
 * a same-origin GET, and `Sec-Fetch-Site` on every request to a loopback or HTTPS server. A page
 * cannot remove either; a client outside a browser (the CLI, `@cairn/client`, curl) sends neither.
 * Such a request never acts on the strength of where it comes from (the loopback operator): a
 * page the operator merely visits would act as them.
 */
export function isBrowserRequest(headers: IncomingHttpHeaders): boolean {
  return headers.origin !== undefined || headers['sec-fetch-site'] !== undefined;
}

/**
 * Refuses (CAIRN_REQUEST_ORIGIN_REFUSED) a request whose `Host` this server does not answer to,
 * or that a browser sends for a page of another origin — another site, another port of this
 * machine, a `file://` page (`Origin: null`) — unless it is a plain navigation (a link followed
 * to the dashboard: GET or HEAD, which changes nothing and whose answer the other page cannot
 * read). The dashboard's own requests are same-origin and pass.
 */
export function checkRequestOrigin(request: { readonly method: string; readonly headers: IncomingHttpHeaders }, hosts: HostNames): void {
  const host = request.headers.host;
  const hostName = host === undefined ? undefined : hostNameOf(host);
  if (hostName !== undefined && !answersTo(hosts, hostName))
    throw new CairnError(
      'CAIRN_REQUEST_ORIGIN_REFUSED',
      `This server does not answer to the host name ${JSON.stringify(hostName)} (the request's Host header): a page can point a name it controls at this machine. Reach it at its IP address or localhost, or add the name to server.allowedHosts.`,
      { path: 'headers.host' },
    );
  const site = request.headers['sec-fetch-site'];
  const navigation = request.headers['sec-fetch-mode'] === 'navigate' && (request.method === 'GET' || request.method === 'HEAD');
  if (navigation) return;
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new CairnError(
      'CAIRN_REQUEST_ORIGIN_REFUSED',
      `A browser sent this request for a page of another origin (Sec-Fetch-Site: ${site}${request.headers.origin === undefined ? '' : `, Origin: ${request.headers.origin}`}): only the dashboard this server serves may call it from a browser.`,
      { path: 'headers.sec-fetch-site' },
    );
  const origin = request.headers.origin;
  if (origin !== undefined && !sameHost(origin, host))
    throw new CairnError(
      'CAIRN_REQUEST_ORIGIN_REFUSED',
      `A browser sent this request for a page of another origin (Origin: ${origin}, this server: ${host ?? 'no Host header'}): only the dashboard this server serves may call it from a browser.`,
      { path: 'headers.origin' },
    );
}

function answersTo(hosts: HostNames, hostName: string): boolean {
  if (hosts.names === 'any' || isIP(hostName) !== 0 || isLoopback(hostName) || hostName.endsWith('.localhost')) return true;
  return hosts.names.has(hostName);
}

/** The name in a Host header, lower-case, without its port or an IPv6 literal's brackets. */
function hostNameOf(host: string): string {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']')) : host.replace(/:\d*$/, '');
  return name.toLowerCase().replace(/\.$/, '');
}

/** Whether an Origin names the server the request reached (its Host, the scheme aside: a proxy may end TLS). */
function sameHost(origin: string, host: string | undefined): boolean {
  if (host === undefined || !URL.canParse(origin)) return false;
  const parsed = new URL(origin);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return false;
  const reached = URL.canParse(`${parsed.protocol}//${host}`) ? new URL(`${parsed.protocol}//${host}`).host : undefined;
  return parsed.host === reached;
}
