// The program that runs inside the stand-in internet's network namespace (started by
// stand-in-internet.test-support.ts under `unshare --net`): the name server, the HTTPS and HTTP
// front for every served name, and behind it the git host, the pip index and verdaccio.
//
// It reads its configuration as the first line of stdin and commands as the next ones, writes its
// messages as lines on fd 3 (stdout is verdaccio's), and exits when stdin closes: its parent's end,
// however that came, ends it and with it the namespace, whose veth the kernel then removes.
import { createInterface } from 'node:readline';
import { createWriteStream, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createGitRepository, createGitServer } from './git-server.test-support.ts';
import { startNameServer } from './name-server.test-support.ts';
import { createPipIndex } from './pip-index.test-support.ts';
import type { InsideConfiguration, InsideMessage } from './inside-protocol.test-support.ts';

// Written in order but without blocking: a parent busy in a synchronous call must not stall the servers.
const messages = createWriteStream('', { fd: 3 });
const send = (message: InsideMessage) => void messages.write(`${JSON.stringify(message)}\n`);

async function start(configuration: InsideConfiguration): Promise<void> {
  const { hosts } = configuration;
  const table = new Map(configuration.table.map(([name, addresses]) => [name, addresses] as const));
  const nameServer = startNameServer(table, '0.0.0.0', 53, (name, type) => send({ type: 'question', name, recordType: type }));
  const gitRoot = join(configuration.root, 'git');
  const repository = createGitRepository(gitRoot);
  const registry = configuration.npm
    ? import('./npm-registry.test-support.ts').then(({ startNpmRegistry }) => startNpmRegistry(join(configuration.root, 'npm')))
    : undefined;
  const git = createGitServer(gitRoot, configuration.tokens.git);
  const pip = createPipIndex();

  const toRegistry = (scheme: 'https' | 'http', port: number, request: IncomingMessage, response: ServerResponse) => {
    if (request.headers.authorization !== `Bearer ${configuration.tokens.npm}`) {
      request.resume();
      response.writeHead(401, { 'www-authenticate': 'Bearer realm="stand-in registry"', 'content-type': 'application/json' });
      response.end(`${JSON.stringify({ error: 'a token is required' })}\n`);
      return;
    }
    // The front asked for the token: verdaccio behind it admits anyone, and builds tarball links
    // from the Host and X-Forwarded-Proto it is sent.
    const { authorization: _authorization, ...headers } = request.headers;
    const upstream = httpRequest(
      { host: '127.0.0.1', port, method: request.method, path: request.url, headers: { ...headers, 'x-forwarded-proto': scheme } },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => response.destroy(error));
    request.pipe(upstream);
  };

  const front = (scheme: 'https' | 'http', registryPort: number | undefined) => (request: IncomingMessage, response: ServerResponse) => {
    const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const servername = scheme === 'https' ? (request.socket as TLSSocket).servername : undefined;
    send({
      type: 'request',
      request: {
        scheme,
        method: request.method ?? '',
        host,
        url: request.url ?? '',
        headers: request.headers,
        ...(typeof servername === 'string' ? { sni: servername } : {}),
      },
    });
    if (host === hosts.git) return git(request, response);
    if (host === hosts.pypi) return pip(request, response);
    if (host === hosts.registry && registryPort !== undefined) return toRegistry(scheme, registryPort, request, response);
    request.resume();
    // `/redirect?to=<url>` answers 302 to it: a redirect is the client's next request, decided as one.
    const to = new URL(request.url ?? '/', 'http://front').searchParams.get('to');
    if (to !== null && (request.url ?? '').startsWith('/redirect?')) return void response.writeHead(302, { location: to }).end();
    response.writeHead(host === hosts.registry ? 404 : 200, { 'content-type': 'text/plain' }).end(`hello from ${host}\n`);
  };

  const [, , npm] = await Promise.all([nameServer, repository, registry]);
  const listen = (server: Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '0.0.0.0', () => resolve());
    });
  await listen(createHttpsServer({ key: configuration.key, cert: configuration.cert }, front('https', npm?.port)), 443);
  await listen(createHttpServer(front('http', npm?.port)), 80);
  send({ type: 'ready' });
}

const lines = createInterface({ input: process.stdin });
let root: string | undefined;
lines.on('line', (line) => {
  const command = JSON.parse(line) as { type: 'start'; configuration: InsideConfiguration } | { type: 'settle'; id: number };
  if (command.type === 'settle') return void send({ type: 'settled', id: command.id });
  root = command.configuration.root;
  start(command.configuration).catch((error: unknown) => {
    send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    messages.end(() => process.exit(1));
  });
});
lines.on('close', () => {
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
  process.exit(0);
});
send({ type: 'hello' });
