import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the client's proxy credentials: they stop at the proxy. */
export const hopByHopHeaders: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * A request's headers as the proxy passes them on: lower-case names with every value, less the
 * hop-by-hop ones, those its `Connection` lists, and `Host`, which the proxy sets to the host it
 * decided on so that a name-based host serves what was admitted.
 */
export function forwardedRequestHeaders(request: IncomingMessage): Record<string, string[]> {
  const listed = new Set((request.headersDistinct.connection ?? []).flatMap((value) => value.toLowerCase().split(/\s*,\s*/)));
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(request.headersDistinct))
    if (values !== undefined && !hopByHopHeaders.has(name) && !listed.has(name) && name !== 'host') headers[name] = values;
  return headers;
}

/** A response's headers as the proxy passes them back: less the hop-by-hop ones. */
export function forwardedResponseHeaders(answer: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !hopByHopHeaders.has(name)) headers[name] = value;
  return headers;
}
