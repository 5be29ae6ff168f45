// Credential brokering over real sockets (ADR 0049): a client that trusts the attempt's CA, real TLS
// terminated by the proxy and opened again to a stand-in host that checks nothing but shows what it
// was sent, plain HTTP beside it. The secret must reach the bound host and nothing else.
import { X509Certificate } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
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
  requestOverTunnel,
  startHttpHost,
  startHttpsHost,
  tableResolver,
  type TestCertificates,
  type TestHost,
} from './egress-test-internet.test-support.ts';

const secret = 'ghs_s3cr3t-value-0123456789';
const otherSecret = 'npm_other-secret-9876543210';
let certificates: TestCertificates;
let https: TestHost;
let http: TestHost;
const names = ['api.example.test', 'other.example.test', 'plain.example.test'];
beforeAll(async () => {
  certificates = makeTestCertificates(names);
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

/** A proxy allowing the three names on the stand-in hosts' ports, api.example.test bound to API_TOKEN. */
async function startProxy(overrides: Partial<EgressProxySettings> = {}, hooks: EgressProxyHooks = {}) {
  const resolver = tableResolver(Object.fromEntries(names.map((name) => [name, ['127.0.0.1']])));
  const settings: EgressProxySettings = {
    allow: names.flatMap((name) => [`${name}:${https.port}`, `${name}:${http.port}`]),
    credentials: [{ host: 'api.example.test', secret: 'API_TOKEN', header: 'Authorization', value: 'Bearer {secret}' }],
    trust: [certificates.ca],
    ...overrides,
  };
  const proxy = await EgressProxy.start(settings, {
    resolve: resolver.resolve,
    addressPolicy: loopbackTestPolicy(),
    secrets: { API_TOKEN: secret, OTHER_TOKEN: otherSecret },
    ...hooks,
  });
  cleanups.push(() => proxy.close());
  return { proxy, asked: resolver.asked };
}

async function brokered(proxy: EgressProxy, host: string, headers: Record<string, string> = {}) {
  const tunnel = await openTunnel(proxy.socketPath, `${host}:${https.port}`);
  expect(tunnel.status).toBe(200);
  return requestOverTunnel(tunnel.socket, host, proxy.caCertificate!, headers);
}

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
    });
    request.on('error', reject);
    request.end();
  });
}

async function endedRecords(proxy: EgressProxy) {
  for (let wait = 0; wait < 200 && proxy.records().some((record) => record.endedAt === null); wait++) await new Promise((resolve) => setTimeout(resolve, 10));
  return proxy.records();
}

/** Nothing the proxy says or keeps holds a secret's value. */
function expectNoSecretIn(proxy: EgressProxy, ...said: string[]) {
  const everything = [egressRecordsToNdjson(proxy.records()), ...proxy.flagged(), ...said].join('\n');
  expect(everything).not.toContain(secret);
  expect(everything).not.toContain(otherSecret);
}

test('a request to a bound host arrives with the secret in its header and the placeholder nowhere; the record names the secret', async () => {
  const { proxy } = await startProxy();
  const placeholder = proxy.placeholders.API_TOKEN!;
  expect(Object.keys(proxy.placeholders)).toEqual(['API_TOKEN']);
  expect(placeholder).toMatch(/^cairn-placeholder-[A-Za-z0-9_-]{43}$/);
  const before = https.requests.length;
  const sent = await brokered(proxy, 'api.example.test', { authorization: `Bearer ${placeholder}`, 'x-token-echo': `t=${placeholder}`, host: 'evil.example' });
  expect(sent).toMatchObject({ status: 200, body: `hello from api.example.test:${https.port}` });
  // A request without the header gets it from the binding's template.
  const unset = await brokered(proxy, 'api.example.test');
  expect(unset.status).toBe(200);
  const seen = https.requests.slice(before);
  expect(seen.map((request) => request.headers.authorization)).toEqual([`Bearer ${secret}`, `Bearer ${secret}`]);
  expect(seen[0]!.headers['x-token-echo']).toBe(`t=${secret}`);
  expect(seen[0]!.headers.host).toBe(`api.example.test:${https.port}`);
  expect(JSON.stringify(seen)).not.toContain('cairn-placeholder-');
  const records = await endedRecords(proxy);
  expect(records.map((record) => [record.host, record.kind, record.decision, record.credential])).toEqual([
    ['api.example.test', 'connect', 'allowed', 'API_TOKEN'],
    ['api.example.test', 'connect', 'allowed', 'API_TOKEN'],
  ]);
  expect(records[0]!.bytesOut).toBeGreaterThan(100);
  expect(records[0]!.bytesIn).toBeGreaterThan(`hello from api.example.test:${https.port}`.length);
  expect(proxy.flagged()).toEqual([]);
  expectNoSecretIn(proxy, sent.body);
});

test("git's Basic authorization, the placeholder as its password, reaches the host with the secret inside", async () => {
  const { proxy } = await startProxy();
  const basic = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`;
  const before = https.requests.length;
  const answer = await brokered(proxy, 'api.example.test', { authorization: basic(`x-access-token:${proxy.placeholders.API_TOKEN}`) });
  expect(answer.status).toBe(200);
  expect(https.requests.slice(before).map((request) => request.headers.authorization)).toEqual([basic(`x-access-token:${secret}`)]);
  expectNoSecretIn(proxy);
});

test('a binding without a header only swaps its placeholder: a request without it arrives with no credential added', async () => {
  const { proxy } = await startProxy({ credentials: [{ host: 'api.example.test', secret: 'API_TOKEN' }] });
  const before = https.requests.length;
  expect((await brokered(proxy, 'api.example.test', { authorization: `Bearer ${proxy.placeholders.API_TOKEN}` })).status).toBe(200);
  expect((await brokered(proxy, 'api.example.test')).status).toBe(200);
  expect(https.requests.slice(before).map((request) => request.headers.authorization)).toEqual([`Bearer ${secret}`, undefined]);
  expectNoSecretIn(proxy);
});

test("the client is shown a leaf for the host signed by the attempt's CA, and fails without that CA", async () => {
  const { proxy } = await startProxy();
  const ca = new X509Certificate(proxy.caCertificate!);
  expect(ca.ca).toBe(true);
  const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  const leaf = await new Promise<X509Certificate>((resolve, reject) => {
    const tls = tlsConnect({ socket: tunnel.socket, servername: 'api.example.test', ca: proxy.caCertificate!, ALPNProtocols: ['http/1.1'] });
    tls.on('secureConnect', () => (resolve(tls.getPeerX509Certificate()!), tls.destroy()));
    tls.on('error', reject);
  });
  expect(leaf.subjectAltName).toBe('DNS:api.example.test');
  expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
  // The stand-in host's own CA (what a pass-through tunnel would need) does not vouch for the leaf.
  const untrusting = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  await expect(getOverTunnel(untrusting.socket, 'api.example.test', certificates.ca)).rejects.toThrow(/certificate/i);
  // Each proxy has its own CA and placeholders.
  const { proxy: second } = await startProxy();
  expect(second.caCertificate).not.toBe(proxy.caCertificate);
  expect(second.placeholders.API_TOKEN).not.toBe(proxy.placeholders.API_TOKEN);
});

test('a placeholder sent to another allowed host is refused and flagged, over plain HTTP and to another bound host', async () => {
  const { proxy } = await startProxy({
    credentials: [
      { host: 'api.example.test', secret: 'API_TOKEN', header: 'Authorization', value: 'Bearer {secret}' },
      { host: 'other.example.test', secret: 'OTHER_TOKEN', header: 'X-Api-Key', value: '{secret}' },
    ],
  });
  const placeholder = proxy.placeholders.API_TOKEN!;
  const httpBefore = http.requests.length;
  const httpsBefore = https.requests.length;
  const plain = await plainGet(proxy.socketPath, `http://plain.example.test:${http.port}/`, { 'x-leak': placeholder });
  expect(plain).toMatchObject({ status: 403, refusal: 'placeholder-elsewhere' });
  const inBasic = await plainGet(proxy.socketPath, `http://plain.example.test:${http.port}/`, {
    authorization: `Basic ${Buffer.from(`user:${placeholder}`).toString('base64')}`,
  });
  expect(inBasic).toMatchObject({ status: 403, refusal: 'placeholder-elsewhere' });
  const inPath = await plainGet(proxy.socketPath, `http://plain.example.test:${http.port}/?t=${placeholder}`);
  expect(inPath).toMatchObject({ status: 403, refusal: 'placeholder-elsewhere' });
  const terminated = await brokered(proxy, 'other.example.test', { authorization: `Bearer ${placeholder}` });
  expect(terminated.status).toBe(403);
  expect(terminated.headers['x-cairn-egress-refusal']).toBe('placeholder-elsewhere');
  expect(terminated.body).toContain('placeholder of API_TOKEN');
  expect(http.requests.length).toBe(httpBefore);
  expect(https.requests.length).toBe(httpsBefore);
  // The host's own placeholder is what it may carry; the one refused above is not.
  const own = await brokered(proxy, 'other.example.test', { 'x-api-key': proxy.placeholders.OTHER_TOKEN! });
  expect(own.status).toBe(200);
  expect(https.requests.at(-1)!.headers['x-api-key']).toBe(otherSecret);
  expect(https.requests.at(-1)!.headers.authorization).toBeUndefined();
  const flags = proxy.flagged();
  expect(flags).toHaveLength(4);
  expect(flags.every((flag) => flag.includes('API_TOKEN') && !flag.includes(placeholder))).toBe(true);
  expect(flags.slice(0, 3).every((flag) => flag.includes(`plain.example.test:${http.port}`))).toBe(true);
  expect(flags[3]).toContain(`other.example.test:${https.port}`);
  const records = await endedRecords(proxy);
  expect(records.map((record) => [record.kind, record.host, record.decision, record.reason, record.credential])).toEqual([
    ['http', 'plain.example.test', 'refused', 'placeholder-elsewhere', null],
    ['http', 'plain.example.test', 'refused', 'placeholder-elsewhere', null],
    ['http', 'plain.example.test', 'refused', 'placeholder-elsewhere', null],
    ['connect', 'other.example.test', 'refused', 'placeholder-elsewhere', 'OTHER_TOKEN'],
    ['connect', 'other.example.test', 'allowed', null, 'OTHER_TOKEN'],
  ]);
  expectNoSecretIn(proxy, plain.body, inBasic.body, terminated.body);
});

test('a bound host over plain HTTP is refused with credential-needs-tls before its name is resolved', async () => {
  const { proxy, asked } = await startProxy();
  const before = http.requests.length;
  const refused = await plainGet(proxy.socketPath, `http://api.example.test:${http.port}/`, { authorization: `Bearer ${proxy.placeholders.API_TOKEN}` });
  expect(refused).toMatchObject({ status: 403, refusal: 'credential-needs-tls' });
  expect(refused.body).toContain('use an https:// URL');
  expect(asked).toEqual([]);
  expect(http.requests.length).toBe(before);
  expect(proxy.records()).toMatchObject([{ kind: 'http', host: 'api.example.test', decision: 'refused', reason: 'credential-needs-tls', credential: null }]);
  expect(proxy.flagged()).toEqual([]);
  expectNoSecretIn(proxy, refused.body);
});

test('a bound host whose certificate the proxy does not trust fails as upstream-failed, and nothing reaches it', async () => {
  const { proxy } = await startProxy({ trust: [] });
  const before = https.requests.length;
  const answer = await brokered(proxy, 'api.example.test', { authorization: `Bearer ${proxy.placeholders.API_TOKEN}` });
  expect(answer.status).toBe(502);
  expect(answer.headers['x-cairn-egress-refusal']).toBe('upstream-failed');
  expect(answer.body).toMatch(
    /api\.example\.test \(127\.0\.0\.1:\d+\) failed: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); its certificate was refused: the proxy trusts Node's roots and egress\.trust\n$/,
  );
  expect(https.requests.length).toBe(before);
  const [record] = await endedRecords(proxy);
  expect(record).toMatchObject({ decision: 'refused', reason: 'upstream-failed', credential: 'API_TOKEN' });
  expectNoSecretIn(proxy, answer.body);
});

test('a binding that names its host with a port, as a spec may, binds that host', async () => {
  const { proxy } = await startProxy({
    credentials: [{ host: `api.example.test:${https.port}`, secret: 'API_TOKEN', header: 'Authorization', value: 'Bearer {secret}' }],
  });
  const before = https.requests.length;
  expect((await brokered(proxy, 'api.example.test')).status).toBe(200);
  expect(https.requests.slice(before).map((request) => request.headers.authorization)).toEqual([`Bearer ${secret}`]);
});

test('many requests over one kept-alive terminated tunnel: each brokered, and the upstream socket watched once', async () => {
  const { proxy } = await startProxy();
  const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  const tls = tlsConnect({ socket: tunnel.socket, servername: 'api.example.test', ca: proxy.caCertificate!, ALPNProtocols: ['http/1.1'] });
  await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  const before = https.requests.length;
  let received = '';
  tls.on('data', (chunk: Buffer) => (received += chunk.toString()));
  try {
    // One request at a time on the one connection, as a kept-alive client sends them.
    for (let index = 0; index < 15; index++) {
      const answers = received.split('HTTP/1.1 200').length - 1;
      tls.write(`GET /keep-alive/${index} HTTP/1.1\r\nHost: api.example.test\r\nConnection: keep-alive\r\n\r\n`);
      for (let wait = 0; wait < 500 && received.split('HTTP/1.1 200').length - 1 === answers; wait++) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    process.off('warning', onWarning);
    tls.destroy();
  }
  expect(received.split('HTTP/1.1 200').length - 1).toBe(15);
  expect(https.requests.slice(before).map((request) => request.headers.authorization)).toEqual(Array.from({ length: 15 }, () => `Bearer ${secret}`));
  expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
});

test('bindings are checked at start, each problem named by its path and none showing a secret', async () => {
  const error = await EgressProxy.start(
    {
      allow: ['api.example.test'],
      credentials: [
        { host: 'other.example.test', secret: 'API_TOKEN', header: 'Authorization', value: 'Bearer {secret}' },
        { host: 'api.example.test', secret: 'API_TOKEN', header: 'Authorization', value: 'Bearer' },
        { host: 'api.example.test', secret: 'MISSING', header: 'Bad Header', value: '{secret}' },
        { host: 'api.example.test', secret: 'BROKEN', header: 'X-Key', value: '{secret}' },
      ],
      trust: ['not a certificate'],
    },
    { secrets: { API_TOKEN: secret, BROKEN: `${secret}\r\nx-injected: 1` } },
  ).catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_CONFIG_INVALID')).toBe(true);
  expect((error as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual([
    'egress.credentials[0].host',
    'egress.credentials[1].value',
    'egress.credentials[2].host',
    'egress.credentials[2].header',
    'egress.credentials[2].secret',
    'egress.credentials[3].host',
    'egress.credentials[3].secret',
  ]);
  expect(JSON.stringify(error) + String(error)).not.toContain(secret);
  const trust = await EgressProxy.start({ allow: ['api.example.test'], trust: ['not a certificate'] }).catch((caught: unknown) => caught);
  expect((trust as { issues: { path: string }[] }).issues.map((issue) => issue.path)).toEqual(['egress.trust[0]']);
});

test('without bindings there is no CA and no placeholder, and a tunnel to any host is passed through', async () => {
  const { proxy } = await startProxy({ credentials: [] });
  expect(proxy.caCertificate).toBeUndefined();
  expect(proxy.placeholders).toEqual({});
  const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${https.port}`);
  expect(await getOverTunnel(tunnel.socket, 'api.example.test', certificates.ca)).toContain('hello from api.example.test');
  expect((await endedRecords(proxy))[0]).toMatchObject({ decision: 'allowed', credential: null });
});

test('bytes through a terminated tunnel count against the limit: the answer that reaches it is cut', async () => {
  const big = await startHttpsHost(certificates, 50_000);
  cleanups.push(() => big.close());
  const { proxy } = await startProxy({ allow: [`api.example.test:${big.port}`], limits: { bytes: 20_000 } });
  const tunnel = await openTunnel(proxy.socketPath, `api.example.test:${big.port}`);
  await expect(requestOverTunnel(tunnel.socket, 'api.example.test', proxy.caCertificate!)).rejects.toThrow();
  const [record] = await endedRecords(proxy);
  expect(record).toMatchObject({ decision: 'cut', reason: 'byte-limit', credential: 'API_TOKEN' });
  expect(record!.bytesIn + record!.bytesOut).toBeLessThanOrEqual(20_000);
  expect(record!.bytesOut).toBeGreaterThan(0);
});
