import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { builtin } from './builtin-module.ts';
import { httpAnswerOf, type HttpAnswer } from './http-answer.ts';

/** What a request sends. */
export interface HttpRequestInit {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Aborts the request, or the reading of its answer's body, with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** How long a request waits: to connect (the TLS handshake included), then with nothing received. */
export interface HttpTimeouts {
  readonly connectMs: number;
  readonly idleMs: number;
}

/** fetch's own limits (undici's: 10 s to connect, 300 s for the headers and between body bytes). */
export const fetchTimeouts: HttpTimeouts = { connectMs: 10_000, idleMs: 300_000 };

/** The headers fetch adds to a request that does not set them, sent here too so that a server sees the same request. */
const fetchHeaders: Readonly<Record<string, string>> = {
  accept: '*/*',
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'user-agent': 'node',
  'accept-encoding': 'gzip, deflate',
};

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
// Dropped when a redirect turns a request into a GET without a body (fetch's "request-body-header names").
const bodyHeaders = ['content-encoding', 'content-language', 'content-location', 'content-type', 'content-length'];
// Dropped when a redirect leads to another origin: credentials are for the server they were given to.
const originHeaders = ['authorization', 'proxy-authorization', 'cookie', 'host'];
const maxRedirects = 20;

/**
 * A request as `fetch(url, init)` makes it with its defaults, on Node's own `node:http` (and
 * `node:https` for an https URL, loaded only then) instead of fetch's HTTP stack, undici, whose
 * loading is half the start of a `cairn` command that makes one request. The same on the wire
 * (fetch's default headers, `content-length`, `text/plain;charset=UTF-8` for a text body without
 * a type), the same redirects followed (at most 20; a 303, or a 301/302 of a POST, becomes a GET
 * without body; credentials not sent to another origin), the same timeouts, the same TLS (Node's
 * default trusted CAs, `NODE_EXTRA_CA_CERTS` included), a body decoded as fetch decodes it. A
 * failure rejects with its system error (`ECONNREFUSED`, `ENOTFOUND`, a certificate's code), the
 * `cause` under fetch's "fetch failed"; an abort rejects with the signal's reason, as fetch does.
 */
export async function httpRequest(url: string, init: HttpRequestInit, timeouts: HttpTimeouts = fetchTimeouts): Promise<HttpAnswer> {
  const { signal } = init;
  if (signal?.aborted) throw signal.reason;
  let method = init.method;
  let body = init.body;
  const headers: Record<string, string> = { ...fetchHeaders };
  for (const [name, value] of Object.entries(init.headers ?? {})) headers[name.toLowerCase()] = value;
  if (typeof body === 'string' && headers['content-type'] === undefined) headers['content-type'] = 'text/plain;charset=UTF-8';
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    // fetch sends a length for every body, and 0 for a POST or PUT without one.
    if (body !== undefined) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    else if (method === 'POST' || method === 'PUT') headers['content-length'] = '0';
    else delete headers['content-length'];
    const response = await exchange(current, { method, headers, body, signal, timeouts });
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (!redirectStatuses.has(status) || location === undefined) return httpAnswerOf(method, response);
    // The redirect's own body is read away, so that its connection serves the next request.
    response.resume();
    if (redirects === maxRedirects) throw new Error('redirect count exceeded');
    // An unparsable location rejects with its TypeError (ERR_INVALID_URL), as fetch's cause.
    const next = new URL(location, current);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error('URL scheme must be a HTTP(S) scheme');
    if (((status === 301 || status === 302) && method === 'POST') || (status === 303 && method !== 'GET' && method !== 'HEAD')) {
      method = 'GET';
      body = undefined;
      for (const name of bodyHeaders) delete headers[name];
    }
    if (next.origin !== current.origin) for (const name of originHeaders) delete headers[name];
    current = next;
  }
}

/** One request and its answer's head: the answer, its body unread. */
async function exchange(
  url: URL,
  options: {
    readonly method: string;
    readonly headers: OutgoingHttpHeaders;
    readonly body: string | Uint8Array | undefined;
    readonly signal: AbortSignal | undefined;
    readonly timeouts: HttpTimeouts;
  },
): Promise<IncomingMessage> {
  const secure = url.protocol === 'https:';
  const { request: send } = secure ? await builtin('node:https') : await builtin('node:http');
  const { signal, timeouts } = options;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const request: ClientRequest = send(url, { method: options.method, headers: options.headers });
    let response: IncomingMessage | undefined;
    let connectTimer: ReturnType<typeof setTimeout> | undefined;
    const fail = (error: unknown): void => {
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', abort);
      // Before the answer: the request fails. After: reading its body does (the answer passed on is destroyed).
      if (response === undefined) {
        request.destroy(error as Error);
        reject(error);
      } else response.destroy(error as Error);
    };
    const abort = (): void => fail(signal!.reason);
    signal?.addEventListener('abort', abort, { once: true });
    // Every error, however late: one after the answer reaches its body's reader.
    request.on('error', fail);
    request.on('socket', (socket) => {
      // A kept-alive connection is connected already; a new one has `connectMs` to be (and secured, for TLS).
      if (request.reusedSocket) return;
      connectTimer = setTimeout(
        () =>
          fail(
            Object.assign(new Error(`Connect Timeout Error (attempted address: ${url.host}, timeout: ${timeouts.connectMs}ms)`), {
              code: 'UND_ERR_CONNECT_TIMEOUT',
            }),
          ),
        timeouts.connectMs,
      );
      socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    // Nothing received for `idleMs`: waiting for the head, or between bytes of the body.
    request.setTimeout(timeouts.idleMs, () =>
      fail(
        response === undefined
          ? Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })
          : Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }),
      ),
    );
    request.once('response', (answer) => {
      response = answer;
      clearTimeout(connectTimer);
      answer.once('close', () => signal?.removeEventListener('abort', abort));
      resolve(answer);
    });
    request.end(options.body);
  });
}
