// The egress bench's stand-in internet, in a process of its own so that the proxies and the clients
// measured never share its event loop: verdaccio (no uplink) behind an HTTPS front that asks for a
// token, the 100 packages of `egress-npm-packages.ts` published into it, and an HTTPS and a plain
// HTTP host answering a short text to anyone who sends the token. Every name maps to these ports:
// the test CA's leaf names them all.
//
// It reads its configuration as one JSON line on stdin, writes one JSON line on fd 3 once ready,
// and exits when stdin closes, removing verdaccio's storage.
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { benchPackages } from './egress-npm-packages.ts';
import { publishToRegistry } from '../packages/worker/src/testing/stand-in-internet/npm-registry.test-support.ts';

/** What the bench sends: the leaf's key and certificate and the token every host asks for. */
export interface EgressHostsConfiguration {
  readonly key: string;
  readonly cert: string;
  readonly token: string;
}

/** What the child answers once everything listens on 127.0.0.1. */
export interface EgressHostsReady {
  readonly registryPort: number;
  readonly httpsPort: number;
  readonly httpPort: number;
  readonly packages: number;
}

const messages = createWriteStream('', { fd: 3 });

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** 401 unless the request carries the token: a credential the proxy was to add must have been added. */
function refusedWithoutToken(token: string, request: IncomingMessage, response: ServerResponse): boolean {
  if (request.headers.authorization === `Bearer ${token}`) return false;
  request.resume();
  response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"a token is required"}\n');
  return true;
}

async function startVerdaccio(root: string): Promise<Server> {
  const { runServer } = await import('verdaccio');
  const storage = join(root, 'storage');
  mkdirSync(storage, { recursive: true });
  writeFileSync(join(root, 'htpasswd'), '');
  return (await runServer({
    self_path: join(root, 'config.yaml'),
    storage,
    auth: { htpasswd: { file: join(root, 'htpasswd'), max_users: -1 } },
    uplinks: {},
    packages: { '**': { access: ['$all'], publish: ['$all'], unpublish: ['$all'], proxy: [] } },
    web: { enable: false },
    log: { type: 'stdout', format: 'json', level: 'fatal' },
  } as never)) as Server;
}

async function start(configuration: EgressHostsConfiguration, root: string): Promise<EgressHostsReady> {
  const verdaccioPort = await listen(await startVerdaccio(root));
  const packages = benchPackages();
  for (const { manifest, tarball } of packages) await publishToRegistry(`http://127.0.0.1:${verdaccioPort}`, manifest, tarball);

  // The front asks for the token; verdaccio behind it admits anyone and builds its tarball links
  // from the Host and X-Forwarded-Proto it is sent, so they name the front as the client reached it.
  const registryPort = await listen(
    createHttpsServer({ key: configuration.key, cert: configuration.cert }, (request, response) => {
      if (refusedWithoutToken(configuration.token, request, response)) return;
      const { authorization: _authorization, ...headers } = request.headers;
      const upstream = httpRequest(
        { host: '127.0.0.1', port: verdaccioPort, method: request.method, path: request.url, headers: { ...headers, 'x-forwarded-proto': 'https' } },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', (error) => response.destroy(error));
      request.pipe(upstream);
    }),
  );
  const answer = (request: IncomingMessage, response: ServerResponse) => {
    if (refusedWithoutToken(configuration.token, request, response)) return;
    request.resume();
    request.on('end', () => response.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${request.headers.host ?? ''}\n`));
  };
  const httpsPort = await listen(createHttpsServer({ key: configuration.key, cert: configuration.cert }, answer));
  const httpPort = await listen(createHttpServer(answer));
  return { registryPort, httpsPort, httpPort, packages: packages.length };
}

const root = mkdtempSync(join(tmpdir(), 'cairn-bench-egress-hosts-'));
const lines = createInterface({ input: process.stdin });
lines.once('line', (line) => {
  start(JSON.parse(line) as EgressHostsConfiguration, root).then(
    (ready) => messages.write(`${JSON.stringify(ready)}\n`),
    (error: unknown) => {
      process.stderr.write(`egress hosts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      rmSync(root, { recursive: true, force: true });
      process.exit(1);
    },
  );
});
lines.on('close', () => {
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
});
