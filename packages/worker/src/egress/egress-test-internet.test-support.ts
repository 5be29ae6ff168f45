// A stand-in internet on loopback for the egress proxy's tests: a test CA (made with the openssl
// CLI, as no helper in the repo makes one), an HTTPS and a plain HTTP host answering for any name,
// a resolver that sends test names to 127.0.0.1, and the one address-policy exception that lets
// the proxy reach them. Everything else about the policy stays the strict default.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createAddressPolicy, type AddressPolicy } from './address-policy.ts';

export interface TestCertificates {
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
}

/** A CA and one leaf certificate for the names the tests use (EC keys: quick on a loaded machine). */
export function makeTestCertificates(names: readonly string[]): TestCertificates {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-egress-ca-'));
  try {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: folder, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=cairn egress test CA', '-days', '2');
    openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${names[0]}`);
    writeFileSync(join(folder, 'leaf.ext'), `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}\n`);
    openssl(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.crt',
      '-days',
      '2',
      '-extfile',
      'leaf.ext',
    );
    const read = (name: string) => readFileSync(join(folder, name), 'utf8');
    return { ca: read('ca.crt'), key: read('leaf.key'), cert: read('leaf.crt') };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** One host of the stand-in internet: its port, the connections it accepted and the requests it answered. */
export interface TestHost {
  readonly port: number;
  readonly connections: () => number;
  readonly requests: { readonly url: string; readonly headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function listen(server: Server, bodySize: number): Promise<TestHost> {
  let connections = 0;
  const requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  server.on('connection', () => connections++);
  server.on('request', (request, response) => {
    requests.push({ url: request.url ?? '', headers: request.headers });
    request.resume();
    request.on('end', () => {
      const body = bodySize === 0 ? `hello from ${request.headers.host ?? ''}` : 'x'.repeat(bodySize);
      response.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    requests,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

/** An HTTPS host with the test leaf; answers `hello from <Host>`, or `bodySize` bytes of `x`. */
export function startHttpsHost(certificates: TestCertificates, bodySize = 0): Promise<TestHost> {
  return listen(createHttpsServer({ key: certificates.key, cert: certificates.cert }), bodySize);
}

/** A plain HTTP host; answers as the HTTPS one does. */
export function startHttpHost(bodySize = 0): Promise<TestHost> {
  return listen(createHttpServer(), bodySize);
}

/** A resolver from a fixed table, recording each name it was asked; a name not in it fails as DNS does. */
export function tableResolver(table: Record<string, readonly string[]>) {
  const asked: string[] = [];
  const resolve = async (host: string): Promise<readonly string[]> => {
    asked.push(host);
    const addresses = table[host];
    if (addresses === undefined) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
    return addresses;
  };
  return { resolve, asked };
}

/** The strict default with 127.0.0.1 alone let through: where the stand-in internet lives. */
export function loopbackTestPolicy(): AddressPolicy {
  const strict = createAddressPolicy();
  return { refusal: (address) => (address === '127.0.0.1' ? undefined : strict.refusal(address)) };
}

/** Opens a proxy connection on its Unix socket and sends `CONNECT target`; resolves with the status line's code and the socket. */
export function openTunnel(socketPath: string, target: string): Promise<{ status: number; head: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(socketPath);
    let received = Buffer.alloc(0);
    socket.on('error', reject);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const head = received.subarray(0, end).toString();
      const rest = received.subarray(end + 4);
      // A refusal's body follows its head: read to the end so the whole answer is in `head`.
      if (!head.startsWith('HTTP/1.1 200')) {
        const chunks: Buffer[] = [rest];
        socket.on('data', (more: Buffer) => chunks.push(more));
        socket.on('end', () => resolve({ status: Number(head.split(' ')[1]), head: `${head}\r\n\r\n${Buffer.concat(chunks).toString()}`, socket }));
        return;
      }
      resolve({ status: 200, head, socket });
    };
    socket.on('data', onData);
  });
}

/** A TLS GET over an open tunnel, checked against the test CA for `servername`; resolves with the body. */
export function getOverTunnel(socket: Socket, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ca });
    tls.on('error', reject);
    tls.on('secureConnect', () => tls.write(`GET /through HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    tls.on('data', (chunk: Buffer) => chunks.push(chunk));
    tls.on('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

/** An HTTPS request over an open tunnel, the server checked against `ca` alone for `servername`; resolves with the answer. */
export function requestOverTunnel(
  socket: Socket,
  servername: string,
  ca: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: servername,
        path: '/brokered',
        headers: { connection: 'close', ...headers },
        // No agent: with one, Node would open its own connection and ignore createConnection.
        createConnection: () => tlsConnect({ socket, servername, ca, ALPNProtocols: ['http/1.1'] }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}
