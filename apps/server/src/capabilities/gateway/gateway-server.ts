import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelGateway } from './model-gateway.ts';

/**
 * The gateway's own listener, apart from the API's (ADR 0033): it takes attempt credentials, not
 * tokens, passes bytes through without the API's body parsing, and can be exposed where tasks run
 * (a VPC) while the API is not.
 */
export class GatewayServer {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async listen(gateway: ModelGateway, host: string, port: number): Promise<GatewayServer> {
    const server = createServer((request, response) => gateway.handle(request, response));
    // A model may think for minutes before its first byte: no server timeout cuts a call short.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    return new GatewayServer(server);
  }

  /** `http://host:port` as it listens. */
  get url(): string {
    const address = this.#server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
