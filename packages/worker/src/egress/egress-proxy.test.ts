// The egress proxy over real sockets: a client speaking CONNECT and plain HTTP on its Unix socket,
// real TLS through the tunnel to a stand-in host on loopback, the strict address policy by default.
import { statSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import type { EgressProxyHooks, EgressProxySettings } from './egress-proxy-settings.ts';
import { EgressProxy } from './egress-proxy.ts';
import { egressRecordsToNdjson } from './egress-record.ts';
import {
  getOverTunnel,
  loopbackTestPolicy,
  makeTestCertificates,
  openTunnel,
  startHttpHost,
  startHttpsHost,
  tableResolver,
  type TestCertificates,
  type TestHost,
} from './egress-test-internet.test-support.ts';

let certificates: TestCertificates;
let https: TestHost;
let http: TestHost;
const names = ['api.example.test', 'a.cdn.example.test', 'bad.cdn.example.test', 'cdn.example.test', 'other.example.test'];
const toLoopback = Object.fromEntries(names.map((name) => [name, ['127.0.0.1']]));
beforeAll(async () => {
  certificates = makeTestCertificates(['api.example.test', '*.cdn.example.test', 'cdn.example.test', 'other.example.test']);
  https = await startHttpsHost(certificates);
  http = await startHttpHost();
});
afterAll(async () => {
  await https.close();
  await http.close();
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startProxy(settings: EgressProxySettings, hooks: EgressProxyHooks = {}) {
  const resolver = tableResolver(toLoopback);
  const proxy = await EgressProxy.start(settings, { resolve: resolver.resolve, addressPolicy: loopbackTestPolicy(), ...hooks });
  cleanups.push(() => proxy.close());
  return { proxy, asked: resolver.asked };
}

/** A plain proxy request on the Unix socket; resolves with status, refusal header and body. */
function plainGet(socketPath: string, url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; refusal: string | undefined; body: string }>((resolve, reject) => {
    const request = httpRequest({ socketPath, path: url, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          refusal: response.headers['x-cairn-egress-refusal'] as string | undefined,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** Until every record has ended (a connection's close reaches the proxy a moment after the client's). */
async function endedRecords(proxy: EgressProxy) {
  for (let wait = 0; wait < 200 && proxy.records().some((record) => record.endedAt === null); wait++) await new Promise((resolve) => setTimeout(resolve, 10));
  return proxy.records();
}

test('an allowed CONNECT whose ClientHello names its host carries a real TLS exchange, and is recorded', async () => {
  const { proxy } = await startProxy({ allow: [`api.example.test:${https.port}`] });
  expect(statSync(proxy.socketPath).mode & 0o777).toBe(0o600);
  const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  expect(tunnel.status).toBe(200);
  const answer = await getOverTunnel(tunnel.socket, 'api.example.test', certificates.ca);
  expect(answer).toMatch(/^HTTP\/1\.1 200/);
  expect(answer).toContain('hello from api.example.test');
  const [record] = await endedRecords(proxy);
  expect(record).toMatchObject({
    host: 'api.example.test',
    port: https.port,
    kind: 'connect',
    address: '127.0.0.1',
    decision: 'allowed',
    rule: `api.example.test:${https.port}`,
    reason: null,
  });
  expect(record!.bytesOut).toBeGreaterThan(200);
  expect(record!.bytesIn).toBeGreaterThan(record!.bytesOut);
  expect(Date.parse(record!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(record!.startedAt));
});

test('a host off the list, an IP literal and a denied name are refused with 403 before anything is resolved', async () => {
  const { proxy, asked } = await startProxy({ allow: [`*.cdn.example.test:${https.port}`], deny: ['bad.cdn.example.test'] });
  const before = https.connections();
  const off = await openTunnel(proxy.socketPath, `other.example.test:${https.port}`);
  expect(off.status).toBe(403);
  expect(off.head).toContain('x-cairn-egress-refusal: not-allowed');
  expect(off.head).toContain(`add "other.example.test:${https.port}" to network.allow`);
  const literal = await openTunnel(proxy.socketPath, `127.0.0.1:${https.port}`);
  expect(literal.status).toBe(403);
  expect(literal.head).toContain('127.0.0.1 is an IP address');
  expect((await openTunnel(proxy.socketPath, `[::1]:${https.port}`)).status).toBe(403);
  const denied = await openTunnel(proxy.socketPath, `bad.cdn.example.test:${https.port}`);
  expect(denied.status).toBe(403);
  expect(denied.head).toContain('is denied by "bad.cdn.example.test"');
  // The wildcard is strictly below its domain: the domain itself is not on the list.
  expect((await openTunnel(proxy.socketPath, `cdn.example.test:${https.port}`)).status).toBe(403);
  expect(asked).toEqual([]);
  expect(https.connections()).toBe(before);
  const records = proxy.records();
  expect(records.map((record) => [record.host, record.decision, record.reason, record.rule])).toEqual([
    ['other.example.test', 'refused', 'not-allowed', null],
    ['127.0.0.1', 'refused', 'ip-literal', null],
    ['::1', 'refused', 'ip-literal', null],
    ['bad.cdn.example.test', 'refused', 'denied', 'bad.cdn.example.test'],
    ['cdn.example.test', 'refused', 'not-allowed', null],
  ]);
});

test('a wildcard admits a name below its domain, through a real TLS exchange', async () => {
  const { proxy } = await startProxy({ allow: [`*.cdn.example.test:${https.port}`] });
  const tunnel = await openTunnel(proxy.socketPath, `A.CDN.example.test.:${https.port}`);
  expect(tunnel.status).toBe(200);
  expect(await getOverTunnel(tunnel.socket, 'a.cdn.example.test', certificates.ca)).toContain('hello from a.cdn.example.test');
  expect(proxy.records()[0]).toMatchObject({ host: 'a.cdn.example.test', rule: `*.cdn.example.test:${https.port}` });
});

test('a ClientHello naming another host, or bytes that are not TLS, end the tunnel before the host is reached', async () => {
  const { proxy } = await startProxy({ allow: [`api.example.test:${https.port}`, `other.example.test:${https.port}`] });
  const before = https.connections();
  const mismatch = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  expect(mismatch.status).toBe(200);
  await expect(getOverTunnel(mismatch.socket, 'other.example.test', certificates.ca)).rejects.toThrow(/alert|access denied|socket/i);
  const plain = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  const reply = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    plain.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    plain.socket.on('close', () => resolve(Buffer.concat(chunks)));
    plain.socket.write('GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n');
  });
  // The fatal access_denied alert, the one thing a client that believes it speaks TLS can read.
  expect([...reply]).toEqual([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);
  expect(https.connections()).toBe(before);
  const records = await endedRecords(proxy);
  expect(records.map((record) => [record.decision, record.reason, record.bytesOut])).toEqual([
    ['refused', 'sni-mismatch', 0],
    ['refused', 'not-tls', 0],
  ]);
  expect(records[0]!.message).toContain('"other.example.test", not api.example.test');
});

test('plain HTTP: an allowed request goes to the checked host with the Host it was decided on; another is refused', async () => {
  const { proxy } = await startProxy({ allow: [`api.example.test:${http.port}`] });
  const allowed = await plainGet(proxy.socketPath, `http://api.example.test:${http.port}/file?x=1`, {
    host: 'elsewhere.example',
    'proxy-authorization': 'Basic c2VjcmV0',
  });
  expect(allowed).toMatchObject({ status: 200, body: `hello from api.example.test:${http.port}` });
  const seen = http.requests.at(-1)!;
  expect(seen.url).toBe('/file?x=1');
  expect(seen.headers['proxy-authorization']).toBeUndefined();
  const refused = await plainGet(proxy.socketPath, `http://other.example.test:${http.port}/`);
  expect(refused.status).toBe(403);
  expect(refused.refusal).toBe('not-allowed');
  expect(refused.body).toContain(`add "other.example.test:${http.port}" to network.allow`);
  const secure = await plainGet(proxy.socketPath, `https://api.example.test:${http.port}/`);
  expect(secure).toMatchObject({ status: 400, refusal: 'bad-request' });
  const records = await endedRecords(proxy);
  expect(records.map((record) => [record.kind, record.decision, record.reason])).toEqual([
    ['http', 'allowed', null],
    ['http', 'refused', 'not-allowed'],
    ['http', 'refused', 'bad-request'],
  ]);
  expect(records[0]!.bytesIn).toBe(`hello from api.example.test:${http.port}`.length);
});

test('the connection limit refuses the next connection with its reason', async () => {
  const { proxy } = await startProxy({ allow: [`api.example.test:${https.port}`], limits: { connections: 1 } });
  const first = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  expect(first.status).toBe(200);
  const second = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  expect(second.status).toBe(403);
  expect(second.head).toContain('x-cairn-egress-refusal: connection-limit');
  expect(second.head).toContain('limit of 1 connections');
  first.socket.destroy();
});

test('the byte limit cuts the connection that reaches it and refuses the next', async () => {
  const big = await startHttpHost(50_000);
  cleanups.push(() => big.close());
  const { proxy } = await startProxy({ allow: [`api.example.test:${big.port}`], limits: { bytes: 20_000 } });
  await expect(plainGet(proxy.socketPath, `http://api.example.test:${big.port}/big`)).rejects.toThrow();
  const next = await plainGet(proxy.socketPath, `http://api.example.test:${big.port}/big`);
  expect(next).toMatchObject({ status: 403, refusal: 'byte-limit' });
  const records = await endedRecords(proxy);
  expect(records.map((record) => [record.decision, record.reason])).toEqual([
    ['cut', 'byte-limit'],
    ['refused', 'byte-limit'],
  ]);
  expect(records[0]!.bytesIn).toBeLessThanOrEqual(20_000);
});

test('by default, a name resolving to loopback, link-local or private addresses is refused, whatever the list says', async () => {
  const table = {
    'loop.example.test': ['127.0.0.1'],
    'metadata.example.test': ['169.254.169.254'],
    'private.example.test': ['10.0.0.1'],
    'mixed.example.test': ['93.184.215.14', '::ffff:192.168.1.1'],
  };
  const resolver = tableResolver(table);
  const proxy = await EgressProxy.start({ allow: ['*.example.test'] }, { resolve: resolver.resolve });
  cleanups.push(() => proxy.close());
  for (const [name, reason] of [
    ['loop.example.test', '127.0.0.1 is a loopback address'],
    ['metadata.example.test', '169.254.169.254 is a link-local (cloud metadata) address'],
    ['private.example.test', '10.0.0.1 is a private (RFC 1918) address'],
    ['mixed.example.test', '::ffff:192.168.1.1 is a private (RFC 1918) address'],
  ] as const) {
    const refused = await openTunnel(proxy.socketPath, `${name}:443`);
    expect(refused.status).toBe(403);
    expect(refused.head).toContain(reason);
    const plain = await plainGet(proxy.socketPath, `http://${name}/`);
    expect(plain).toMatchObject({ status: 403, refusal: 'address-forbidden' });
  }
  expect(proxy.records().every((record) => record.decision === 'refused' && record.reason === 'address-forbidden')).toBe(true);
  const unknown = await openTunnel(proxy.socketPath, 'nowhere.example.test:443');
  expect(unknown.status).toBe(502);
  expect(unknown.head).toContain('x-cairn-egress-refusal: resolution-failed');
});

test('invalid entries are refused at start, each named by its path', async () => {
  const error = await EgressProxy.start({ allow: ['api.example.test', '10.0.0.1', 'https://x.test/'], deny: ['*'] }).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
  expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['egress.allow[1]', 'egress.allow[2]', 'egress.deny[0]']);
});

test('the loopback door speaks as the socket does; each name is resolved once, and the run gives the same NDJSON twice', async () => {
  const run = async () => {
    let tick = 0;
    // A clock that moves a second a reading, so two runs give the same times.
    const now = () => new Date(Date.UTC(2026, 10, 28, 1, 0, tick++));
    const resolver = tableResolver(toLoopback);
    const proxy = await EgressProxy.start(
      { allow: [`api.example.test:${https.port}`] },
      { resolve: resolver.resolve, addressPolicy: loopbackTestPolicy(), now },
      { loopback: true },
    );
    cleanups.push(() => proxy.close());
    expect(proxy.port).toBeGreaterThan(0);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = netConnect(proxy.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
      socket.on('error', reject);
      socket.write(`CONNECT other.example.test:443 HTTP/1.1\r\nHost: other.example.test:443\r\n\r\n`);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(reply).toMatch(
      /\r\n\r\ncairn egress: refused CONNECT other.example.test:443 \(not-allowed\): other.example.test:443 is not on the allow-list; add "other.example.test" to network.allow\n$/,
    );
    const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
    tunnel.socket.end('not a ClientHello');
    await endedRecords(proxy);
    expect(resolver.asked).toEqual(['api.example.test']);
    return egressRecordsToNdjson(proxy.records());
  };
  const first = await run();
  expect(first.split('\n')).toHaveLength(3);
  expect(await run()).toBe(first);
});

test('a protocol upgrade over plain HTTP is refused and recorded', async () => {
  const { proxy } = await startProxy({ allow: [`api.example.test:${http.port}`] });
  const status = await new Promise<number>((resolve, reject) => {
    const request = httpRequest({
      socketPath: proxy.socketPath,
      path: `http://api.example.test:${http.port}/ws`,
      headers: { connection: 'upgrade', upgrade: 'websocket' },
    });
    request.on('response', (response) => (response.resume(), resolve(response.statusCode ?? 0)));
    request.on('error', reject);
    request.end();
  });
  expect(status).toBe(400);
  expect(proxy.records()).toMatchObject([{ kind: 'http', decision: 'refused', reason: 'bad-request' }]);
});
