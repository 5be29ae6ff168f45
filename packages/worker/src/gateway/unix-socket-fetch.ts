import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';

/** The part of `fetch` a runtime in the worker's process uses to reach the forwarder. */
export type FetchFunction = (url: URL, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<Response>;

/**
 * A `fetch` that sends every request over one Unix socket, whatever host the URL names (it stays
 * the Host header): how a runtime in the worker's own process (openai-compatible) reaches the
 * attempt's forwarder, which listens on no TCP port when the attempt's commands are sandboxed.
 * Node's built-in fetch cannot be pointed at a socket without undici's own API.
 */
export function unixSocketFetch(socketPath: string): FetchFunction {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const sent = httpRequest(
        { socketPath, path: `${url.pathname}${url.search}`, method: init.method, headers: { ...init.headers, host: url.host }, signal: init.signal },
        (answer) => {
          const headers = new Headers();
          for (const [name, value] of Object.entries(answer.headers)) {
            for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
          }
          const body = answer.statusCode === 204 || answer.statusCode === 304 ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>);
          resolve(new Response(body, { status: answer.statusCode ?? 502, statusText: answer.statusMessage ?? '', headers }));
        },
      );
      // As fetch does: a failure to connect is a TypeError whose cause says why (ECONNREFUSED, ENOENT).
      sent.on('error', (error) => reject(init.signal.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: error })));
      sent.end(init.body);
    });
}
