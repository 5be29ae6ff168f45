import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { parseSettings } from '@cairn/protocol';
import type { z } from 'zod';
import { createAddressPolicy } from './address-policy.ts';
import { EgressAllowList } from './allow-list.ts';
import { EgressConnection, relay } from './egress-connection.ts';
import { decideEgress, systemResolver, type EgressDecisionContext } from './egress-decision.ts';
import { egressProxySettingsSchema, type EgressProxyDoors, type EgressProxyHooks, type EgressProxySettings } from './egress-proxy-settings.ts';
import type { EgressRecord } from './egress-record.ts';
import { answerConnectRefusal, respondRefusal } from './egress-refusal.ts';
import { awaitTunnelClientHello } from './tunnel-client-hello.ts';

// Hop-by-hop headers (RFC 9110 §7.6.1) and the client's proxy credentials stop at the proxy.
const hopByHopHeaders = new Set([
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
// A fatal TLS alert, access_denied (RFC 8446 §6.2): what a client that already speaks TLS is told.
const accessDeniedAlert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

/**
 * An attempt's egress proxy (ADR 0049): the one way out of a sandbox whose network is an
 * allow-list. It listens on a Unix socket (mode 0600, in a folder of its own, for the sandbox's
 * relay) and speaks `CONNECT host:port` and plain `GET http://host/...`; each is decided by the
 * allow-list, the attempt's limits and the address the proxy itself resolved, and recorded.
 *
 * Credentials are not brokered here yet: a tunnel is passed through untouched once its ClientHello
 * names the host it was opened to. Terminating TLS for a host with a credential binding is to
 * branch off in `#tunnel`, before the upstream connection is made.
 */
export class EgressProxy {
  readonly #settings: z.output<typeof egressProxySettingsSchema>;
  readonly #context: EgressDecisionContext;
  readonly #now: () => Date;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Duplex>();
  readonly #connections: EgressConnection[] = [];
  readonly #socketPath: string;
  #port = 0;
  #opened = 0;
  #bytes = 0;
  // Set once a chunk was held back: the bytes counted may be below the limit, but the attempt has reached it.
  #byteLimitReached = false;

  private constructor(settings: EgressProxySettings, hooks: EgressProxyHooks, socketPath: string) {
    this.#settings = parseSettings(egressProxySettingsSchema, settings, 'egress');
    this.#now = hooks.now ?? (() => new Date());
    this.#socketPath = socketPath;
    const { connections, bytes } = this.#settings.limits;
    this.#context = {
      allowList: new EgressAllowList(this.#settings.allow, this.#settings.deny, 'egress'),
      addressPolicy: hooks.addressPolicy ?? createAddressPolicy(this.#settings.ownAddresses),
      resolve: hooks.resolve ?? systemResolver,
      limitRefusal: () => {
        if (connections !== undefined && this.#opened >= connections)
          return { reason: 'connection-limit', message: `the attempt has opened its limit of ${connections} connections` };
        if (bytes !== undefined && this.#byteLimitReached) return { reason: 'byte-limit', message: `the attempt has moved its limit of ${bytes} bytes` };
        return undefined;
      },
    };
  }

  /** Validates the settings (CAIRN_CONFIG_INVALID naming each bad option or entry), then listens. */
  static async start(settings: EgressProxySettings, hooks: EgressProxyHooks = {}, doors: EgressProxyDoors = { loopback: false }): Promise<EgressProxy> {
    const folder = await mkdtemp(join(tmpdir(), 'cairn-egress-'));
    let proxy: EgressProxy | undefined;
    try {
      proxy = new EgressProxy(settings, hooks, join(folder, 'egress.sock'));
      // The folder stays mkdtemp's 0700 while the socket has the umask's mode: nobody else reaches it.
      const unix = proxy.#server();
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(proxy!.#socketPath, resolve));
      await chmod(proxy.#socketPath, 0o600);
      // Only then searchable by the sandbox's uid, whose relay connects; the socket is handed to that uid alone.
      await chmod(folder, 0o711);
      if (doors.loopback) {
        const tcp = proxy.#server();
        await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(0, '127.0.0.1', resolve));
        proxy.#port = (tcp.address() as AddressInfo).port;
      }
    } catch (error) {
      // Nothing half-open is left behind: what listened is closed, the folder removed.
      if (proxy === undefined) await rm(folder, { recursive: true, force: true });
      else await proxy.close();
      throw error;
    }
    return proxy;
  }

  get socketPath(): string {
    return this.#socketPath;
  }

  /** The loopback port, 0 without the loopback door. */
  get port(): number {
    return this.#port;
  }

  /** Every connection decided so far, in the order they came, open ones with `endedAt` null. */
  records(): EgressRecord[] {
    return this.#connections.map((connection) => connection.record());
  }

  /** Stops listening and ends every open connection (each recorded as ended now). */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    for (const connection of this.#connections) connection.close();
    await rm(dirname(this.#socketPath), { recursive: true, force: true });
  }

  #server(): Server {
    const server = createServer((request, response) => void this.#plain(request, response));
    server.on('connection', (socket: Socket) => this.#track(socket));
    server.on('connect', (request: IncomingMessage, socket: Duplex, head: Buffer) => void this.#connect(request, socket, head));
    // Without a listener the server drops an upgrade unrecorded; refused here so the record holds it.
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      const connection = new EgressConnection('http', request.url ?? '', 0, this.#now);
      this.#connections.push(connection);
      connection.refuse('bad-request', 'the proxy carries no protocol upgrade over plain HTTP; use a wss:// or https:// URL (a CONNECT tunnel)');
      answerConnectRefusal(socket, connection.record(), 400);
    });
    // A download may take long; a client that sends no request line at all is cut by headersTimeout.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    this.#servers.push(server);
    return server;
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    // A reset from either side ends the connection; it is not the proxy's error.
    socket.on('error', () => socket.destroy());
  }

  /** Counts bytes against the attempt's limit; false (and the connection cut) once passing them would exceed it. */
  #admitBytes(connection: EgressConnection, direction: 'in' | 'out', bytes: number, cut: () => void): boolean {
    const limit = this.#settings.limits.bytes;
    if (limit !== undefined && this.#bytes + bytes > limit) {
      this.#byteLimitReached = true;
      connection.cut('byte-limit', `the attempt has reached its limit of ${limit} bytes`);
      cut();
      return false;
    }
    this.#bytes += bytes;
    connection.counted(direction, bytes);
    return true;
  }

  async #connect(request: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const target = /^([^\s/?#@[\]]+|\[[0-9a-fA-F:.]+\]):([0-9]{1,5})$/.exec(request.url ?? '');
    const connection = new EgressConnection('connect', target?.[1] ?? request.url ?? '', Number(target?.[2] ?? 0), this.#now);
    this.#connections.push(connection);
    if (target === null || Number(target[2]) < 1 || Number(target[2]) > 65_535) {
      connection.refuse('bad-request', `CONNECT needs a target host:port, not ${JSON.stringify(request.url ?? '')}`);
      return answerConnectRefusal(client, connection.record(), 400);
    }
    const decision = await decideEgress(this.#context, target[1]!, Number(target[2]));
    connection.decided({ host: decision.host, address: decision.address, rule: decision.rule });
    if (!decision.admitted) {
      connection.refuse(decision.reason, decision.message, decision.wouldAdmit);
      return answerConnectRefusal(client, connection.record(), decision.reason === 'resolution-failed' ? 502 : 403);
    }
    // Counted now, not once connected: two tunnels opened at once must not both slip under the limit.
    this.#opened++;
    if (client.destroyed) return connection.refuse('not-tls', 'the client closed the tunnel before it was established');
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const hello = await awaitTunnelClientHello(client, head, decision.host, this.#settings.clientHelloTimeout);
    if (hello.refusal !== undefined) {
      connection.refuse(hello.refusal.reason, hello.refusal.message);
      if (!client.destroyed) client.end(accessDeniedAlert);
      return;
    }
    this.#tunnel(client, hello.bytes, connection, decision.address, Number(target[2]));
  }

  #tunnel(client: Duplex, hello: Buffer, connection: EgressConnection, address: string, port: number): void {
    // Credential brokering (ADR 0049) branches here: a host with a binding is to be terminated with the
    // attempt's CA instead of being tunnelled. Not built yet: every admitted tunnel is passed through.
    const upstream: Socket = connect({ host: address, port });
    this.#track(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      if (this.#admitBytes(connection, 'out', hello.length, cut)) upstream.write(hello);
      relay(client, upstream, (bytes) => this.#admitBytes(connection, 'out', bytes, cut));
      relay(upstream, client, (bytes) => this.#admitBytes(connection, 'in', bytes, cut));
      client.resume();
    });
    upstream.once('error', (error) => {
      // A reset after the tunnel ran is the host's to give; one before means nothing reached it.
      if (!connected) connection.refuse('upstream-failed', `${connection.host} (${address}:${port}) could not be reached: ${error.message}`);
    });
    client.once('close', () => (upstream.destroy(), connection.close()));
    upstream.once('close', () => (client.destroy(), connection.close()));
  }

  async #plain(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL | undefined;
    try {
      url = new URL(request.url ?? '');
    } catch {
      url = undefined;
    }
    const connection = new EgressConnection('http', url?.hostname ?? request.url ?? '', Number(url?.port || 80), this.#now);
    this.#connections.push(connection);
    if (url === undefined || url.protocol !== 'http:') {
      const message =
        url?.protocol === 'https:'
          ? 'an https:// URL goes through a CONNECT tunnel, not a plain request'
          : `a proxy request needs an absolute http:// URL, not ${JSON.stringify(request.url ?? '')}`;
      connection.refuse('bad-request', message);
      request.resume();
      return respondRefusal(response, connection.record(), 400);
    }
    const port = Number(url.port || 80);
    const decision = await decideEgress(this.#context, url.hostname, port);
    connection.decided({ host: decision.host, address: decision.address, rule: decision.rule });
    if (!decision.admitted) {
      connection.refuse(decision.reason, decision.message, decision.wouldAdmit);
      request.resume();
      return respondRefusal(response, connection.record(), decision.reason === 'resolution-failed' ? 502 : 403);
    }
    this.#opened++;
    const headers: OutgoingHttpHeaders = {};
    const listed = new Set(
      String(request.headers.connection ?? '')
        .toLowerCase()
        .split(/\s*,\s*/),
    );
    for (const [name, value] of Object.entries(request.headers))
      if (value !== undefined && !hopByHopHeaders.has(name) && !listed.has(name) && name !== 'host') headers[name] = value;
    // The host decided on, never the client's Host header: a name-based host must serve what was admitted.
    headers.host = url.host;
    const cut = () => {
      upstream.destroy();
      response.destroy();
    };
    const upstream = httpRequest({
      host: decision.address,
      port,
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers,
      agent: false,
      setHost: false,
    });
    upstream.on('response', (answer) => {
      const passed: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !hopByHopHeaders.has(name)) passed[name] = value;
      response.writeHead(answer.statusCode ?? 502, passed);
      relay(answer, response, (bytes) => this.#admitBytes(connection, 'in', bytes, cut));
      answer.on('error', cut);
    });
    upstream.on('error', (error) => {
      const message = `${decision.host} (${decision.address}:${port}) failed: ${error.message}`;
      if (response.headersSent) {
        connection.cut('upstream-failed', message);
        response.destroy();
        return;
      }
      connection.refuse('upstream-failed', message);
      respondRefusal(response, connection.record(), 502);
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
      connection.close();
    });
    relay(request, upstream, (bytes) => this.#admitBytes(connection, 'out', bytes, cut));
  }
}
