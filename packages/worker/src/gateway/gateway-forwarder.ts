import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TaskGateway } from '@cairn/core';
import { CairnError } from '@cairn/protocol';

/** What the forwarder tells the worker as calls pass. */
export interface ForwarderWatch {
  /** Bytes moved either way: the agent is not stalled. */
  activity(): void;
  /** The gateway refused a call for a reason that ends the attempt (its budget is spent). */
  refused(error: CairnError): void;
}

/** The header the gateway names a refusal's code in (ADR 0033). */
export const gatewayErrorHeader = 'x-cairn-error';

/** The credential header the forwarder adds; any key the agent sent is dropped. */
export const gatewayCredentialHeader = 'x-cairn-credential';

// Hop-by-hop headers (RFC 9110 §7.6.1) and the agent's own keys are not passed on.
const droppedRequestHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'authorization',
  'x-api-key',
  gatewayCredentialHeader,
]);
const droppedResponseHeaders = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'trailer']);

/** Where the forwarder listens besides its Unix socket. */
export interface ForwarderDoors {
  /**
   * Also listen on TCP 127.0.0.1 of the worker's own network namespace: only for a runtime that
   * shares it (no sandbox, or a container that is itself the sandbox, as a Fargate task's). A
   * sandbox with a network namespace of its own reaches the socket through its relay instead, and
   * then nothing listens on the host's loopback at all.
   */
  readonly loopback: boolean;
}

/**
 * The attempt's own door to the model gateway, in the worker (ADR 0033, ADR 0038). It listens on a
 * Unix socket (mode 0600, handed by a sandbox launch to the sandbox's uid alone, whose relay
 * joins the sandbox's `127.0.0.1:<port>` to it) and, only when asked, on the worker's loopback;
 * every request goes on to the gateway with the attempt's credential added, so the credential never
 * enters the sandbox and an agent's own key header is dropped. It is also where the worker sees
 * model calls happen: each byte is activity (the stall watch), and a refusal that ends the attempt
 * (a spent budget) is reported as it passes.
 *
 * Whoever reaches a door spends the attempt's budget on the team's provider key, so each door
 * answers only what the attempt's runtime sends: the path must begin with the forwarder's
 * unguessable prefix (in the URL the runtime is given, nowhere else), the Host must be the
 * loopback address it was given (a DNS-rebinding page names its own host), and a request a
 * browser made (it carries `Origin` or `Sec-Fetch-Site`, which no agent CLI sends) is refused.
 */
export class GatewayForwarder {
  readonly #gateway: TaskGateway;
  readonly #watch: ForwarderWatch;
  readonly #servers: Server[] = [];
  readonly #socketPath: string;
  readonly #prefix = `/${randomBytes(24).toString('base64url')}`;
  #port = 0;

  private constructor(gateway: TaskGateway, watch: ForwarderWatch, socketPath: string) {
    this.#gateway = gateway;
    this.#watch = watch;
    this.#socketPath = socketPath;
  }

  /**
   * Starts listening on a Unix socket (mode 0600) in a folder of its own under the system's
   * temporary folder (a socket's path may not be longer than 107 bytes, which an attempt's folder
   * under a work root can be) and, with `doors.loopback`, on 127.0.0.1 (a free port). Without
   * it, `port` is a port number for the sandbox's relay to listen on in its own namespace.
   */
  static async start(gateway: TaskGateway, watch: ForwarderWatch, doors: ForwarderDoors = { loopback: false }): Promise<GatewayForwarder> {
    // mkdtemp makes the folder 0700: nobody else reaches the socket while it has the umask's mode.
    const folder = await mkdtemp(join(tmpdir(), 'cairn-gw-'));
    const socketPath = join(folder, 'gateway.sock');
    const forwarder = new GatewayForwarder(gateway, watch, socketPath);
    try {
      const unix = forwarder.#server();
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(socketPath, resolve));
      // Root's alone until a sandbox launch hands it to the sandbox's uid, whose relay connects.
      await chmod(socketPath, 0o600);
      // Only then searchable by the sandbox's uid, whose relay connects to the socket handed to it alone.
      await chmod(folder, 0o711);
      if (doors.loopback) {
        const tcp = forwarder.#server();
        await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(0, '127.0.0.1', resolve));
        forwarder.#port = (tcp.address() as AddressInfo).port;
      } else {
        // Any port is free in a sandbox's fresh network namespace; one above the well-known ones.
        forwarder.#port = randomInt(1_024, 65_536);
      }
    } catch (error) {
      // Nothing half-open is left behind: what listened is closed, the folder removed.
      await forwarder.close();
      throw error;
    }
    return forwarder;
  }

  /**
   * The port on 127.0.0.1 the runtime reaches it on: the worker's loopback listener's, or the one
   * a sandbox's relay listens on inside.
   */
  get port(): number {
    return this.#port;
  }

  /** The root URL runtimes are given (`http://127.0.0.1:<port>/<prefix>`): the prefix is the door's key. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}${this.#prefix}`;
  }

  get socketPath(): string {
    return this.#socketPath;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    await rm(dirname(this.#socketPath), { recursive: true, force: true });
  }

  #server(): Server {
    const server = createServer((request, response) => this.#forward(request, response));
    // A model answer may take minutes to start: no timeout of the server's own cuts it short.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    this.#servers.push(server);
    return server;
  }

  /** Why a request is not the attempt's runtime's; undefined when it may pass. */
  #refusal(request: IncomingMessage): { status: number; reason: string } | undefined {
    const path = request.url ?? '/';
    if (path !== this.#prefix && !path.startsWith(`${this.#prefix}/`)) return { status: 404, reason: 'no such path on this forwarder' };
    const host = request.headers.host;
    if (host !== `127.0.0.1:${this.#port}` && host !== `localhost:${this.#port}`)
      return { status: 403, reason: `the Host ${JSON.stringify(host ?? '')} is not the forwarder's address` };
    // Node's own fetch sends Sec-Fetch-Mode, and so an agent CLI may: a browser sends Origin on every
    // POST and Sec-Fetch-Site and -Dest on every request to a loopback address.
    if (request.headers.origin !== undefined || request.headers['sec-fetch-site'] !== undefined || request.headers['sec-fetch-dest'] !== undefined)
      return { status: 403, reason: 'a browser request (it carries Origin or Sec-Fetch-Site) may not use the model gateway' };
    return undefined;
  }

  #forward(request: IncomingMessage, response: ServerResponse): void {
    const refusal = this.#refusal(request);
    if (refusal !== undefined) {
      // Not activity: nothing the attempt sent. Said in the provider's error shape, as the gateway does.
      response.writeHead(refusal.status, { 'content-type': 'application/json', connection: 'close' });
      response.end(JSON.stringify({ error: { type: 'permission_error', message: `cairn: ${refusal.reason}` } }));
      request.resume();
      return;
    }
    this.#watch.activity();
    // Joined as text, never resolved against the gateway's URL: a path such as `//elsewhere/` would
    // otherwise name another host, and the forwarder would carry the credential there.
    const target = new URL(`${this.#gateway.url.replace(/\/+$/, '')}${(request.url ?? '/').slice(this.#prefix.length) || '/'}`);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(request.headers)) if (value !== undefined && !droppedRequestHeaders.has(name)) headers[name] = value;
    headers[gatewayCredentialHeader] = this.#gateway.credential;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send(target, { method: request.method, headers }, (answer) => {
      const refusal = answer.headers[gatewayErrorHeader];
      if (refusal === 'CAIRN_BUDGET_EXCEEDED')
        this.#watch.refused(
          new CairnError(
            'CAIRN_BUDGET_EXCEEDED',
            `The model gateway refused a call: ${String(answer.headers['x-cairn-reason'] ?? "the item's budget is spent")}.`,
          ),
        );
      const passed: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !droppedResponseHeaders.has(name)) passed[name] = value;
      response.writeHead(answer.statusCode ?? 502, passed);
      answer.on('data', () => this.#watch.activity());
      answer.pipe(response);
      answer.on('error', () => response.destroy());
    });
    request.on('data', () => this.#watch.activity());
    // A call the gateway holds (its run awaits a budget raise) is alive, not stalled.
    upstream.on('information', () => this.#watch.activity());
    upstream.on('error', (error) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      response.writeHead(502, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { type: 'api_error', message: `cairn: the model gateway could not be reached: ${error.message}` } }));
    });
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });
    request.pipe(upstream);
  }
}
