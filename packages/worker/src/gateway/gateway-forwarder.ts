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

/**
 * The attempt's own door to the model gateway, in the worker (ADR 0033). It listens on the host's
 * loopback (for a runtime in this process or one without a sandbox) and, when asked, on a Unix
 * socket that the sandbox's relay reaches; every request goes on to the gateway with the attempt's
 * credential added, so the credential never enters the sandbox and an agent's own key header is
 * dropped. It is also where the worker sees model calls happen: each byte is activity (the stall
 * watch), and a refusal that ends the attempt (a spent budget) is reported as it passes.
 */
export class GatewayForwarder {
  readonly #gateway: TaskGateway;
  readonly #watch: ForwarderWatch;
  readonly #servers: Server[] = [];
  readonly #socketPath: string;
  #port = 0;

  private constructor(gateway: TaskGateway, watch: ForwarderWatch, socketPath: string) {
    this.#gateway = gateway;
    this.#watch = watch;
    this.#socketPath = socketPath;
  }

  /**
   * Starts listening on 127.0.0.1 (a free port) and on a Unix socket (mode 0600) in a folder of
   * its own under the system's temporary folder: a socket's path may not be longer than 107 bytes,
   * which an attempt's folder under a work root can be.
   */
  static async start(gateway: TaskGateway, watch: ForwarderWatch): Promise<GatewayForwarder> {
    const folder = await mkdtemp(join(tmpdir(), 'cairn-gw-'));
    // Searchable by the sandbox's uid, whose relay connects; the socket itself is handed to that uid alone.
    await chmod(folder, 0o711);
    const socketPath = join(folder, 'gateway.sock');
    const forwarder = new GatewayForwarder(gateway, watch, socketPath);
    try {
      const tcp = forwarder.#server();
      await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(0, '127.0.0.1', resolve));
      forwarder.#port = (tcp.address() as AddressInfo).port;
      const unix = forwarder.#server();
      await new Promise<void>((resolve, reject) => unix.once('error', reject).listen(socketPath, resolve));
      // Root's alone until a sandbox launch hands it to the sandbox's uid, whose relay connects.
      await chmod(socketPath, 0o600);
    } catch (error) {
      // Nothing half-open is left behind: what listened is closed, the folder removed.
      await forwarder.close();
      throw error;
    }
    return forwarder;
  }

  /** The port on 127.0.0.1 it listens on (the sandbox's relay listens on the same port inside). */
  get port(): number {
    return this.#port;
  }

  /** The root URL runtimes are given (`http://127.0.0.1:<port>`). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
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

  #forward(request: IncomingMessage, response: ServerResponse): void {
    this.#watch.activity();
    const target = new URL(request.url ?? '/', this.#gateway.url);
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
