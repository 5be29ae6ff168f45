import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { parseSettings } from '@cairn/protocol';
import type { z } from 'zod';
import { createAddressPolicy } from './address-policy.ts';
import { EgressAllowList, normalizeHostName, parseEgressEntry } from './allow-list.ts';
import { AttemptCertificateAuthority } from './attempt-ca.ts';
import { CredentialBroker } from './credential-broker.ts';
import { EgressConnection, relay } from './egress-connection.ts';
import { decideEgress, systemResolver, type EgressDecisionContext } from './egress-decision.ts';
import { egressProxySettingsSchema, type EgressProxyDoors, type EgressProxyHooks, type EgressProxySettings } from './egress-proxy-settings.ts';
import type { EgressRecord } from './egress-record.ts';
import { answerConnectRefusal, respondRefusal } from './egress-refusal.ts';
import { forwardedRequestHeaders, forwardedResponseHeaders } from './forwarded-headers.ts';
import { terminateTunnel } from './terminated-tunnel.ts';
import { upstreamTrust } from './upstream-trust.ts';
import { awaitTunnelClientHello } from './tunnel-client-hello.ts';

// A fatal TLS alert, access_denied (RFC 8446 §6.2): what a client that already speaks TLS is told.
const accessDeniedAlert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

/**
 * An attempt's egress proxy (ADR 0049): the one way out of a sandbox whose network is an
 * allow-list. It listens on a Unix socket (mode 0600, in a folder of its own, for the sandbox's
 * relay) and speaks `CONNECT host:port` and plain `GET http://host/...`; each is decided by the
 * allow-list, the attempt's limits and the address the proxy itself resolved, and recorded.
 *
 * Credentials are brokered, never placed: the sandbox holds a placeholder per bound secret. A
 * tunnel to a host with a binding is terminated with a leaf from the attempt's CA (whose key never
 * leaves this process) and each request goes on over the proxy's own TLS with the placeholder
 * replaced by the secret. Over plain HTTP a bound host is refused, and a placeholder seen where it
 * is not bound (a plain request, another bound host) refuses the request and flags the attempt.
 * A tunnel to a host without a binding is passed through untouched once its ClientHello names the
 * host it was opened to: the proxy sees none of its bytes and so can flag nothing sent there; what
 * it guarantees instead is that nothing the sandbox holds is a credential.
 */
export class EgressProxy {
  readonly #settings: z.output<typeof egressProxySettingsSchema>;
  readonly #context: EgressDecisionContext;
  readonly #now: () => Date;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Duplex>();
  readonly #connections: EgressConnection[] = [];
  readonly #socketPath: string;
  readonly #broker: CredentialBroker;
  // Node's roots and the settings' own: what a bound host's certificate is checked against.
  readonly #trust: () => SecureContext;
  readonly #flags: string[] = [];
  #authority: AttemptCertificateAuthority | undefined;
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
    const allowList = new EgressAllowList(this.#settings.allow, this.#settings.deny, 'egress');
    this.#broker = new CredentialBroker(this.#settings.credentials, hooks.secrets ?? {}, (host) => admittedOnSomePort(allowList, this.#settings.allow, host));
    this.#trust = upstreamTrust(this.#settings.trust);
    this.#context = {
      allowList,
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
      if (proxy.#broker.hosts.length > 0) {
        proxy.#authority = await AttemptCertificateAuthority.create(proxy.#now());
        // Issued now, so a bound host's first connection waits for no signature.
        await Promise.all(proxy.#broker.hosts.map((host) => proxy!.#authority!.leaf(host, proxy!.#now())));
      }
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

  /** Secret name to the placeholder the sandbox holds in its place; new per proxy, one per bound secret. */
  get placeholders(): Readonly<Record<string, string>> {
    return this.#broker.placeholders;
  }

  /** The attempt's CA certificate (PEM), for the sandbox's trust bundle; undefined without credential bindings. */
  get caCertificate(): string | undefined {
    return this.#authority?.certificate;
  }

  /** What the attempt did with placeholders that it must answer for: each names the host and the secret, never a value. */
  flagged(): readonly string[] {
    return [...this.#flags];
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
    const secret = this.#broker.secretFor(connection.host);
    if (secret !== undefined && this.#authority !== undefined) return this.#terminate(client, hello, connection, address, port, secret, this.#authority);
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

  #terminate(
    client: Duplex,
    hello: Buffer,
    connection: EgressConnection,
    address: string,
    port: number,
    secret: string,
    authority: AttemptCertificateAuthority,
  ): void {
    connection.brokered(secret);
    authority.leaf(connection.host, this.#now()).then(
      (leaf) =>
        terminateTunnel({
          client,
          hello,
          context: leaf.context,
          host: connection.host,
          address,
          port,
          trust: this.#trust(),
          connection,
          broker: this.#broker,
          admitBytes: (direction, bytes, cut) => this.#admitBytes(connection, direction, bytes, cut),
          track: (socket) => this.#track(socket),
          flag: (message) => this.#flags.push(message),
        }),
      (error: unknown) => {
        // Leaves are issued at start, so this is WebCrypto failing: the tunnel ends, nothing reached the host.
        connection.refuse(
          'upstream-failed',
          `no certificate could be issued for ${connection.host}: ${error instanceof Error ? error.message : String(error)}`,
        );
        client.destroy();
      },
    );
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
    const forwarded = forwardedRequestHeaders(request);
    if (this.#refusedForCredentials(request, response, connection, url, forwarded)) return;
    const decision = await decideEgress(this.#context, url.hostname, port);
    connection.decided({ host: decision.host, address: decision.address, rule: decision.rule });
    if (!decision.admitted) {
      connection.refuse(decision.reason, decision.message, decision.wouldAdmit);
      request.resume();
      return respondRefusal(response, connection.record(), decision.reason === 'resolution-failed' ? 502 : 403);
    }
    this.#opened++;
    // The host decided on, never the client's Host header: a name-based host must serve what was admitted.
    const headers: OutgoingHttpHeaders = { ...forwarded, host: url.host };
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
      response.writeHead(answer.statusCode ?? 502, forwardedResponseHeaders(answer));
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

  /**
   * Plain HTTP carries no credential: a placeholder in it is one the sandbox tries to send where it
   * is worth nothing (refused, and the attempt flagged), and a bound host is refused before its
   * name is even resolved, since its credential travels over TLS alone. True when refused.
   */
  #refusedForCredentials(
    request: IncomingMessage,
    response: ServerResponse,
    connection: EgressConnection,
    url: URL,
    headers: Record<string, string[]>,
  ): boolean {
    const host = normalizeHostName(url.hostname) ?? url.hostname;
    const bound = this.#broker.secretFor(host);
    const elsewhere = this.#broker.placeholdersIn(request.url ?? '', headers).filter((secret) => secret !== bound);
    let refusal: { reason: 'placeholder-elsewhere' | 'credential-needs-tls'; message: string } | undefined;
    if (elsewhere.length > 0) {
      for (const secret of elsewhere) this.#flags.push(`the placeholder of ${secret} was sent to ${url.host} over plain HTTP, where it is not bound`);
      refusal = {
        reason: 'placeholder-elsewhere',
        message: `the request holds the placeholder of ${elsewhere.join(', ')}, which is never sent over plain HTTP`,
      };
    } else if (bound !== undefined)
      refusal = {
        reason: 'credential-needs-tls',
        message: `${host} has a credential binding, which the proxy sends over TLS alone; use an https:// URL`,
      };
    if (refusal === undefined) return false;
    connection.decided({ host, address: null, rule: null });
    connection.refuse(refusal.reason, refusal.message);
    request.resume();
    respondRefusal(response, connection.record(), 403);
    return true;
  }
}

/** Whether the allow-list admits `host` on a port it could be reached on: 443, 80 or one an entry names. */
function admittedOnSomePort(allowList: EgressAllowList, allow: readonly string[], host: string): boolean {
  const ports = new Set([443, 80]);
  for (const text of allow) {
    const entry = parseEgressEntry(text);
    if (!('invalid' in entry) && entry.port !== undefined) ports.add(entry.port);
  }
  return [...ports].some((port) => allowList.match(host, port).admitted);
}
