// httpRequest stands in for fetch on the client's path: each case makes the same request through
// both, against the same real server, and holds what the server saw and what came back equal, so
// the two cannot drift apart unseen. fetch is the oracle.
import { execFileSync, spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { httpRequest, type HttpRequestInit } from './http-request.ts';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: readonly string[];
  readonly body: string;
}

/** A server that records each request (method, path, headers, body) and answers by path. */
function recordingServer(answer: (request: IncomingMessage, response: ServerResponse, self: string) => void) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let self = '';
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      const headers: string[] = [];
      for (let index = 0; index < request.rawHeaders.length; index += 2)
        headers.push(`${request.rawHeaders[index]!.toLowerCase()}: ${request.rawHeaders[index + 1]!}`);
      seen.push({ method: request.method!, url: request.url!, headers: headers.sort(), body });
      answer(request, response, self);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    seen,
    server,
    connections: () => sockets.size,
    async start(): Promise<string> {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      self = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      return self;
    },
  };
}

const json = JSON.stringify({ runs: [{ runId: 'r-1', name: 'ünïcode' }] });

const main = recordingServer((request, response, self) => {
  const url = new URL(request.url!, self);
  const to = url.searchParams.get('to');
  const [, route, argument] = url.pathname.split('/');
  if (route === 'redirect') {
    response.writeHead(Number(argument), { location: to! });
    response.end('moved');
  } else if (route === 'no-location') {
    response.writeHead(302, { 'content-type': 'application/json' });
    response.end('{"code":"CAIRN_INTERNAL"}');
  } else if (route === 'loop') {
    response.writeHead(302, { location: '/loop' });
    response.end();
  } else if (route === 'coded') {
    const codings: Record<string, (input: Buffer) => Buffer> = {
      gzip: gzipSync,
      'x-gzip': gzipSync,
      deflate: deflateSync,
      'deflate-raw': deflateRawSync,
      br: brotliCompressSync,
      'gzip-br': (input) => brotliCompressSync(gzipSync(input)),
    };
    const encoding = argument === 'deflate-raw' ? 'deflate' : argument === 'gzip-br' ? 'gzip, br' : argument!;
    response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
    response.end(codings[argument!]!(Buffer.from(json)));
  } else if (route === 'cut') {
    response.writeHead(200, { 'content-length': '1000' });
    response.write('x'.repeat(10), () => response.socket?.destroy());
  } else if (route === 'stall') {
    // Holds the request without answering (the connection closes when the client gives up).
  } else if (route === 'stall-body') {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.write('first bytes');
  } else if (route === 'empty') {
    response.writeHead(204);
    response.end();
  } else {
    response.setHeader('x-repeated', ['one', 'two']);
    response.writeHead(route === 'missing' ? 404 : 200, { 'content-type': 'application/json', 'x-cairn-digest': 'sha256:abc' });
    response.end(request.method === 'HEAD' ? undefined : json);
  }
});
// Another origin (another port) to redirect to.
const other = recordingServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(json);
});
let base = '';
let otherBase = '';
const scratch = mkdtempSync(join(tmpdir(), 'cairn-http-request-'));

beforeAll(async () => {
  base = await main.start();
  otherBase = await other.start();
});
afterAll(async () => {
  for (const { server } of [main, other]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** What an answer holds, read as the client reads it. */
async function answerOf(answer: { status: number; ok: boolean; headers: { get(name: string): string | null }; arrayBuffer(): Promise<ArrayBuffer> }) {
  return {
    status: answer.status,
    ok: answer.ok,
    type: answer.headers.get('content-type'),
    repeated: answer.headers.get('x-repeated'),
    digest: answer.headers.get('X-Cairn-Digest'),
    body: new TextDecoder().decode(await answer.arrayBuffer()),
  };
}

/** The request through fetch and through httpRequest: what the servers saw of each, and what each got back. */
async function both(url: string, init: HttpRequestInit) {
  const results = [];
  for (const send of [(target: string) => fetch(target, init), (target: string) => httpRequest(target, init)]) {
    const mainBefore = main.seen.length;
    const otherBefore = other.seen.length;
    const answer = await answerOf(await send(url));
    // The one difference: fetch closes a connection after a HEAD (undici's choice), node:http keeps it for the next request.
    const seen = [...main.seen.slice(mainBefore), ...other.seen.slice(otherBefore)].map((request) =>
      request.method === 'HEAD' ? { ...request, headers: request.headers.filter((header) => !header.startsWith('connection:')) } : request,
    );
    results.push({ answer, seen });
  }
  return { fetched: results[0]!, requested: results[1]! };
}

test('each request is the one fetch sends (method, headers, body) and its answer reads the same', async () => {
  const token = { authorization: 'Bearer cairn_secret' };
  const cases: [string, HttpRequestInit][] = [
    ['/v1/runs?limit=5', { method: 'GET', headers: token }],
    ['/v1/runs', { method: 'POST', headers: { ...token, 'content-type': 'application/yaml', 'idempotency-key': 'k-1' }, body: 'name: ünïcode\n' }],
    ['/v1/runs/r-1/cancel', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }],
    ['/v1/text', { method: 'POST', body: 'no type given' }],
    ['/v1/runners/r/drain', { method: 'POST' }],
    ['/v1/secrets/s', { method: 'PUT' }],
    ['/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([0, 1, 2, 255]) }],
    ['/v1/blobs/sha256:abc', { method: 'HEAD' }],
    ['/v1/webhooks/w', { method: 'DELETE' }],
    ['/missing', { method: 'GET' }],
    ['/empty', { method: 'DELETE' }],
  ];
  for (const [path, init] of cases) {
    const { fetched, requested } = await both(`${base}${path}`, init);
    expect(requested, `${init.method} ${path}`).toEqual(fetched);
    expect(requested.seen).toHaveLength(1);
  }
  // Not vacuous: the defaults fetch adds are there, on both.
  const { requested } = await both(`${base}/v1/runs`, { method: 'GET' });
  expect(requested.seen[0]!.headers).toEqual(expect.arrayContaining(['accept: */*', 'user-agent: node', 'accept-encoding: gzip, deflate']));
  expect(requested.answer).toMatchObject({ status: 200, repeated: 'one, two', digest: 'sha256:abc', body: json });
});

test('a coded answer is decoded as fetch decodes it: gzip, x-gzip, deflate with and without its header, br, two codings', async () => {
  for (const coding of ['gzip', 'x-gzip', 'deflate', 'deflate-raw', 'br', 'gzip-br']) {
    const { fetched, requested } = await both(`${base}/coded/${coding}`, { method: 'GET' });
    expect(requested, coding).toEqual(fetched);
    expect(requested.answer.body, coding).toBe(json);
  }
});

test('redirects are followed as fetch follows them: methods, bodies and credentials on each hop', async () => {
  const init = (method: string): HttpRequestInit => ({
    method,
    headers: { authorization: 'Bearer cairn_secret', 'content-type': 'application/json' },
    ...(method === 'GET' ? {} : { body: '{"reason":"why"}' }),
  });
  for (const status of [301, 302, 303, 307, 308])
    for (const method of ['GET', 'POST', 'PUT'])
      for (const target of [`${base}/landed`, `/relative`, `${otherBase}/elsewhere`]) {
        const { fetched, requested } = await both(`${base}/redirect/${status}?to=${encodeURIComponent(target)}`, init(method));
        expect(requested, `${method} answered ${status} to ${target}`).toEqual(fetched);
        expect(requested.seen).toHaveLength(2);
      }
  // The rules themselves, not only the agreement with fetch: no token to another origin, the token kept for its own.
  const cross = await both(`${base}/redirect/307?to=${encodeURIComponent(`${otherBase}/x`)}`, init('POST'));
  expect(cross.requested.seen[1]!.headers.some((header) => header.startsWith('authorization'))).toBe(false);
  expect(cross.requested.seen[1]!.body).toBe('{"reason":"why"}');
  const same = await both(`${base}/redirect/303?to=/x`, init('POST'));
  expect(same.requested.seen[1]).toMatchObject({ method: 'GET', body: '' });
  expect(same.requested.seen[1]!.headers).toContain('authorization: Bearer cairn_secret');
  // A 3xx without a location is the answer itself.
  const unmoved = await both(`${base}/no-location`, { method: 'GET' });
  expect(unmoved.requested).toEqual(unmoved.fetched);
  expect(unmoved.requested.answer).toMatchObject({ status: 302, ok: false });
});

/** Why fetch failed (its cause) and why httpRequest did, by code and message. */
async function failures(url: string, init: HttpRequestInit = { method: 'GET' }) {
  const fetchError = await fetch(url, init).then(
    () => undefined,
    (error: Error) => error.cause as Error & { code?: string },
  );
  const requestError = await httpRequest(url, init).then(
    () => undefined,
    (error: Error & { code?: string }) => error,
  );
  return { fetched: { code: fetchError?.code, message: fetchError?.message }, requested: { code: requestError?.code, message: requestError?.message } };
}

test('a server that refuses, a redirect loop and a redirect out of HTTP fail as fetch fails, by code and message', async () => {
  const refusing = createTcpServer();
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
  const { port } = refusing.address() as { port: number };
  await new Promise((resolve) => refusing.close(resolve));
  const refused = await failures(`http://127.0.0.1:${port}/v1/runs`);
  expect(refused.requested).toEqual(refused.fetched);
  expect(refused.requested).toEqual({ code: 'ECONNREFUSED', message: `connect ECONNREFUSED 127.0.0.1:${port}` });

  const loop = await failures(`${base}/loop`);
  expect(loop.requested).toEqual(loop.fetched);
  expect(loop.requested.message).toBe('redirect count exceeded');

  const scheme = await failures(`${base}/redirect/302?to=${encodeURIComponent('ftp://127.0.0.1/x')}`);
  expect(scheme.requested).toEqual(scheme.fetched);
  expect(scheme.requested.message).toBe('URL scheme must be a HTTP(S) scheme');
});

test('a body cut off before its end fails its reader, as with fetch', async () => {
  const read = async (answer: Promise<{ arrayBuffer(): Promise<ArrayBuffer> }>) =>
    (await answer).arrayBuffer().then(
      () => 'read',
      () => 'failed',
    );
  expect(await read(fetch(`${base}/cut`))).toBe('failed');
  expect(await read(httpRequest(`${base}/cut`, { method: 'GET' }))).toBe('failed');
});

test("an abort rejects with the signal's reason, before the answer and while its body is read, and leaves no listener on the signal", async () => {
  const early = new AbortController();
  early.abort(new Error('stopped early'));
  await expect(httpRequest(`${base}/v1/runs`, { method: 'GET', signal: early.signal })).rejects.toBe(early.signal.reason);
  await expect(fetch(`${base}/v1/runs`, { signal: early.signal })).rejects.toBe(early.signal.reason);

  const waiting = new AbortController();
  const pending = httpRequest(`${base}/stall`, { method: 'GET', signal: waiting.signal });
  setTimeout(() => waiting.abort(), 50);
  await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

  const reading = new AbortController();
  const answer = await httpRequest(`${base}/stall-body`, { method: 'GET', signal: reading.signal });
  const chunks: string[] = [];
  const read = (async () => {
    for await (const chunk of answer.body) {
      chunks.push(Buffer.from(chunk).toString());
      reading.abort(new Error('enough'));
    }
  })();
  await expect(read).rejects.toThrow('enough');
  expect(chunks).toEqual(['first bytes']);

  // One signal over many requests (as events() reconnecting): each answer read takes its listener away.
  const longLived = new AbortController();
  for (let index = 0; index < 20; index++) await (await httpRequest(`${base}/v1/runs`, { method: 'GET', signal: longLived.signal })).json();
  await (await httpRequest(`${base}/v1/runs`, { method: 'HEAD', signal: longLived.signal })).discard();
  expect(getEventListeners(longLived.signal, 'abort')).toHaveLength(0);
});

test('an answer read to its end, or discarded, leaves its connection to the next request', async () => {
  const keepAlive = recordingServer((_request, response) => response.end(json));
  const address = await keepAlive.start();
  try {
    for (let index = 0; index < 3; index++) {
      await (await httpRequest(`${address}/v1/runs`, { method: 'GET' })).json();
      await (await httpRequest(`${address}/v1/webhooks/w`, { method: 'DELETE' })).discard();
      await (await httpRequest(`${address}/v1/blobs/sha256:abc`, { method: 'HEAD' })).discard();
    }
    expect(keepAlive.seen).toHaveLength(9);
    expect(keepAlive.connections()).toBe(1);
  } finally {
    keepAlive.server.closeAllConnections();
    await new Promise((resolve) => keepAlive.server.close(resolve));
  }
});

test("fetch's timeouts: to connect (TLS included), for the answer's head, between its body's bytes", async () => {
  // Connecting has all the time it needs here (a loaded machine): only the waits after it are short.
  const short = { connectMs: 10_000, idleMs: 300 };
  await expect(httpRequest(`${base}/stall`, { method: 'GET' }, short)).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
  const answer = await httpRequest(`${base}/stall-body`, { method: 'GET' }, short);
  await expect(answer.arrayBuffer()).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
  // A TCP server that never answers the TLS handshake: connected, never secured.
  // It reads (and drops) what comes, so that it sees the client close the connection.
  const silent = createTcpServer((socket) => socket.resume());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = silent.address() as { port: number };
    await expect(httpRequest(`https://127.0.0.1:${port}/v1/runs`, { method: 'GET' }, { connectMs: 300, idleMs: 60_000 })).rejects.toMatchObject({
      code: 'UND_ERR_CONNECT_TIMEOUT',
    });
  } finally {
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('TLS as fetch: a certificate no trusted CA signed is refused with the same code; trusted through NODE_EXTRA_CA_CERTS, it is answered, and fetch is never loaded', async () => {
  const key = join(scratch, 'key.pem');
  const certificate = join(scratch, 'certificate.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      certificate,
    ],
    { stdio: 'ignore' },
  );
  const secure = createSecureServer({ key: readFileSync(key), cert: readFileSync(certificate) }, (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(json);
  });
  await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
  try {
    const url = `https://127.0.0.1:${(secure.address() as { port: number }).port}/v1/runs`;
    const untrusted = await failures(url);
    expect(untrusted.requested.code).toBe(untrusted.fetched.code);
    expect(untrusted.requested.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    // The extra CAs are read as Node starts: a child trusts the certificate through them.
    const script = [
      `import { httpRequest } from ${JSON.stringify(join(import.meta.dirname, 'http-request.ts'))};`,
      `const answer = await httpRequest(${JSON.stringify(url)}, { method: 'GET' });`,
      `const body = await answer.json();`,
      `const undici = process.moduleLoadList.some((name) => name.includes('undici'));`,
      `const fetched = await (await fetch(${JSON.stringify(url)})).json();`,
      `console.log(JSON.stringify({ status: answer.status, same: JSON.stringify(body) === JSON.stringify(fetched), undici }));`,
    ].join('\n');
    const child = await nodeScript(script, { ...process.env, NODE_EXTRA_CA_CERTS: certificate });
    expect(JSON.parse(child.stdout || '{}'), child.stderr).toEqual({ status: 200, same: true, undici: false });
  } finally {
    secure.closeAllConnections();
    await new Promise((resolve) => secure.close(resolve));
  }
});

/** Runs an ES module script in a child Node (asynchronously: the server it calls is in this process). */
function nodeScript(script: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
  });
}
