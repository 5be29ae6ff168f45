import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { CredentialBroker } from './credential-broker.ts';
import { relay, type EgressConnection } from './egress-connection.ts';
import type { EgressRefusalReason } from './egress-record.ts';
import { respondRefusal, type EgressRefusalStatus } from './egress-refusal.ts';
import { forwardedRequestHeaders, forwardedResponseHeaders } from './forwarded-headers.ts';

/** A CONNECT tunnel to a host with a credential binding, admitted and its ClientHello checked. */
export interface TerminatedTunnel {
  /** The client's socket, paused, with `hello` read off it. */
  readonly client: Duplex;
  readonly hello: Buffer;
  /** The host's leaf from the attempt's CA. */
  readonly context: SecureContext;
  readonly host: string;
  /** The address the proxy checked, the only one connected to. */
  readonly address: string;
  readonly port: number;
  /** What the host's own certificate is checked against (Node's roots and the settings' `trust`), made once per proxy. */
  readonly trust: SecureContext;
  readonly connection: EgressConnection;
  readonly broker: CredentialBroker;
  readonly admitBytes: (direction: 'in' | 'out', bytes: number, cut: () => void) => boolean;
  readonly track: (socket: Duplex) => void;
  readonly flag: (message: string) => void;
}

/**
 * Terminates a tunnel's TLS with the host's leaf and forwards each HTTP/1.1 request over TLS of the
 * proxy's own to the real host, its credential brokered on the way. node:http parses the client's
 * requests (a server that never listens, handed the TLS socket), so the proxy reads no protocol by
 * hand; ALPN offers `http/1.1` alone, as nothing else is parsed. The host's certificate is checked
 * for its name as any client would: terminating gives the proxy no licence to trust less.
 *
 * Bytes are counted as HTTP: each message's head once it passed, each body chunk before it passes.
 * A refusal answers the request, ends the tunnel and is the connection's record: `refused` while
 * nothing reached the host, `cut` after.
 */
export function terminateTunnel(tunnel: TerminatedTunnel): void {
  const { client, connection, host, address, port, broker } = tunnel;
  client.unshift(tunnel.hello);
  const secure = new TLSSocket(client, { isServer: true, secureContext: tunnel.context, ALPNProtocols: ['http/1.1'] });
  tunnel.track(secure);
  // One connection to the host for the tunnel's requests, in turn, as the client's own would be.
  // The trust is a context made once: made from ~150 roots per connection, it cost 5-10 ms each.
  const agent = new Agent({ keepAlive: true, maxSockets: 1, secureContext: tunnel.trust });
  // A kept-alive socket is handed to each request in turn: it is watched once, not once a request.
  const watched = new WeakSet<Duplex>();
  const authority = port === 443 ? host : `${host}:${port}`;
  let reached = false;
  const cut = () => {
    secure.destroy();
    agent.destroy();
  };
  const refuse = (response: ServerResponse, reason: EgressRefusalReason, message: string, status: EgressRefusalStatus) => {
    if (reached) connection.cut(reason, message);
    else connection.refuse(reason, message);
    respondRefusal(response, connection.record(), status);
  };

  const forward = (request: IncomingMessage, response: ServerResponse) => {
    const target = request.url ?? '';
    if (!target.startsWith('/')) {
      request.resume();
      return refuse(response, 'bad-request', `a request to ${authority} names a path, not ${JSON.stringify(target)}`, 400);
    }
    const brokered = broker.broker(host, target, forwardedRequestHeaders(request));
    if ('elsewhere' in brokered) {
      for (const secret of brokered.elsewhere) tunnel.flag(`the placeholder of ${secret} was sent to ${authority}, a host it is not bound to`);
      request.resume();
      const which = brokered.elsewhere.join(', ');
      return refuse(response, 'placeholder-elsewhere', `the request holds the placeholder of ${which}, which is bound to another host`, 403);
    }
    const headers: OutgoingHttpHeaders = { ...brokered.headers, host: authority };
    const method = request.method ?? 'GET';
    const upstream = httpsRequest({ host: address, port, servername: host, method, path: target, headers, agent, setHost: false });
    upstream.on('socket', (socket) => {
      if (watched.has(socket)) return;
      watched.add(socket);
      tunnel.track(socket);
      socket.once('secureConnect', () => (reached = true));
    });
    upstream.on('response', (answer) => {
      // The request's head went out whole before any answer; what it holds is counted now.
      const sent = headLength(`${method} ${target} HTTP/1.1`, Object.entries(headers));
      const received = headLength(`HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}`, pairs(answer.rawHeaders));
      if (!tunnel.admitBytes('out', sent, cut) || !tunnel.admitBytes('in', received, cut)) return;
      response.writeHead(answer.statusCode ?? 502, forwardedResponseHeaders(answer));
      relay(answer, response, (bytes) => tunnel.admitBytes('in', bytes, cut));
      answer.on('error', cut);
    });
    upstream.on('error', (error) => {
      const message = `${host} (${address}:${port}) failed: ${upstreamFailure(error)}`;
      if (!response.headersSent) return refuse(response, 'upstream-failed', message, 502);
      connection.cut('upstream-failed', message);
      cut();
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    relay(request, upstream, (bytes) => tunnel.admitBytes('out', bytes, cut));
  };

  const server = createServer(forward);
  // As the proxy's own server: a download may take long; a client that sends no request is cut.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  // A client that does not trust the attempt's CA ends the handshake; there is no one to answer.
  server.on('clientError', (_error, socket: Duplex) => socket.destroy());
  secure.once('close', () => {
    agent.destroy();
    connection.close();
  });
  server.emit('connection', secure);
}

function pairs(raw: readonly string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let index = 0; index + 1 < raw.length; index += 2) result.push([raw[index]!, raw[index + 1]!]);
  return result;
}

/** The bytes of a message head: its start line, each header line, the empty line. */
function headLength(startLine: string, headers: readonly [string, unknown][]): number {
  let length = startLine.length + 4;
  for (const [name, value] of headers)
    for (const text of Array.isArray(value) ? value : [value]) length += Buffer.byteLength(`${name}: ${String(text)}\r\n`, 'latin1');
  return length;
}

/**
 * The upstream failure as the client reads it. A certificate the proxy refused is the one failure
 * the attempt's settings can mend, so it says what the proxy trusts; Node's own hint (a flag to
 * restart Node with) is dropped, as it is no advice for an agent.
 */
function upstreamFailure(error: Error): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/CERT|SELF_SIGNED|ISSUER|LEAF_SIGNATURE|VERIFY/.test(code)) return error.message;
  return `${error.message.split('; ')[0]!} (${code}); its certificate was refused: the proxy trusts Node's roots and egress.trust`;
}
