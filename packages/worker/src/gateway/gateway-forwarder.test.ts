// The attempt's forwarder to the model gateway: what it adds and drops on the way, and that a
// forwarder that cannot listen leaves nothing listening behind (a leaked listener keeps its
// supervisor process alive for ever).
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { GatewayForwarder } from './gateway-forwarder.ts';
import { unixSocketFetch } from './unix-socket-fetch.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayStandIn(status = 200, headers: Record<string, string> = {}) {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((request, response) => {
    seen.push(request.headers);
    request.resume();
    request.on('end', () => response.writeHead(status, { 'content-type': 'application/json', ...headers }).end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test("a call goes on with the attempt's credential in place of any key the agent sent; a budget refusal is reported", async () => {
  const gateway = await gatewayStandIn(402, {
    'x-cairn-error': 'CAIRN_BUDGET_EXCEEDED',
    'x-cairn-reason': 'item write has used 1100 tokens of its budget of 1000',
  });
  const refusals: string[] = [];
  let activity = 0;
  const forwarder = await GatewayForwarder.start(
    { url: gateway.url, credential: 'cgw1.claims.mac' },
    { activity: () => activity++, refused: (error) => refusals.push(`${error.code}: ${error.message}`) },
    { loopback: true },
  );
  cleanups.push(() => forwarder.close());
  const response = await fetch(`${forwarder.url}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': 'sk-the-agents-own', authorization: 'Bearer sk-too' },
    body: '{}',
  });
  expect(response.status).toBe(402);
  expect(gateway.seen[0]?.['x-cairn-credential']).toBe('cgw1.claims.mac');
  expect(gateway.seen[0]?.['x-api-key']).toBeUndefined();
  expect(gateway.seen[0]?.authorization).toBeUndefined();
  expect(refusals).toEqual(['CAIRN_BUDGET_EXCEEDED: The model gateway refused a call: item write has used 1100 tokens of its budget of 1000.']);
  expect(activity).toBeGreaterThan(0);
});

test('a forwarder that cannot listen on its socket (a path too long for one) rejects and leaves no listener behind', async () => {
  const listeners = () => process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap' || resource === 'PipeServerWrap').length;
  // The listeners of an earlier test close a moment after their close() returns: counted once they have.
  for (let wait = 0; wait < 100 && listeners() > 0; wait++) await sleep(10);
  const before = listeners();
  // A socket's path may not be longer than 107 bytes: under this folder the forwarder's cannot be made.
  const deep = join(tmpdir(), `cairn-forwarder-${'x'.repeat(120)}`);
  mkdirSync(deep, { recursive: true });
  cleanups.push(() => rmSync(deep, { recursive: true, force: true }));
  const saved = process.env['TMPDIR'];
  process.env['TMPDIR'] = deep;
  cleanups.push(() => {
    if (saved === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = saved;
  });
  await expect(
    GatewayForwarder.start({ url: 'http://127.0.0.1:9', credential: 'x' }, { activity: () => undefined, refused: () => undefined }),
  ).rejects.toThrow();
  expect(listeners()).toBe(before);
});

/** A raw HTTP/1.1 request to the forwarder's loopback door, as any local process (or a browser) can send one. */
function rawRequest(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sent = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, setHost: false },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    sent.on('error', reject);
    sent.end('{"model":"claude-sonnet-4-5","max_tokens":1,"messages":[]}');
  });
}

test("the loopback door answers only the URL it was given: no prefix, another Host, a browser's request are refused and reach no gateway", async () => {
  const gateway = await gatewayStandIn();
  let activity = 0;
  const forwarder = await GatewayForwarder.start(
    { url: gateway.url, credential: 'cgw1.claims.mac' },
    { activity: () => activity++, refused: () => undefined },
    { loopback: true },
  );
  cleanups.push(() => forwarder.close());
  const own = new URL(forwarder.url);
  const host = `127.0.0.1:${forwarder.port}`;
  // The prefix is the door's key: unguessable, and different for every forwarder.
  expect(own.pathname).toMatch(/^\/[\w-]{32}$/);
  const attempts = {
    'no prefix (the path an attacker would guess)': await rawRequest(forwarder.port, '/anthropic/v1/messages', { host }),
    'a wrong prefix': await rawRequest(forwarder.port, `/${'A'.repeat(32)}/anthropic/v1/messages`, { host }),
    'a rebinding Host': await rawRequest(forwarder.port, `${own.pathname}/anthropic/v1/messages`, { host: `rebind.test:${forwarder.port}` }),
    "a cross-origin page's no-cors POST": await rawRequest(forwarder.port, `${own.pathname}/anthropic/v1/messages`, {
      host,
      origin: 'http://evil.test',
      'sec-fetch-mode': 'no-cors',
      'sec-fetch-site': 'cross-site',
    }),
    'a same-site page without an Origin': await rawRequest(forwarder.port, `${own.pathname}/anthropic/v1/messages`, { host, 'sec-fetch-site': 'same-site' }),
  };
  expect(Object.fromEntries(Object.entries(attempts).map(([what, answer]) => [what, answer.status]))).toEqual({
    'no prefix (the path an attacker would guess)': 404,
    'a wrong prefix': 404,
    'a rebinding Host': 403,
    "a cross-origin page's no-cors POST": 403,
    'a same-site page without an Origin': 403,
  });
  expect(attempts['a rebinding Host'].body).toContain("is not the forwarder's address");
  expect(gateway.seen).toEqual([]);
  expect(activity).toBe(0);

  // The runtime's own call, through the URL it was given, goes on; the prefix is not passed on.
  const answer = await fetch(`${forwarder.url}/anthropic/v1/messages`, { method: 'POST', body: '{}' });
  expect(answer.status).toBe(200);
  expect(gateway.seen).toHaveLength(1);
});

test('a path that would name another host still goes to the gateway: the forwarder is no open proxy', async () => {
  const gateway = await gatewayStandIn();
  const elsewhere = await gatewayStandIn();
  const forwarder = await GatewayForwarder.start(
    { url: gateway.url, credential: 'cgw1.claims.mac' },
    { activity: () => undefined, refused: () => undefined },
    { loopback: true },
  );
  cleanups.push(() => forwarder.close());
  const answer = await rawRequest(forwarder.port, `${new URL(forwarder.url).pathname}//${new URL(elsewhere.url).host}/v1/messages`, {
    host: `127.0.0.1:${forwarder.port}`,
  });
  expect(answer.status).toBe(200);
  expect(gateway.seen).toHaveLength(1);
  expect(elsewhere.seen).toEqual([]);
});

test('without the loopback door nothing listens on TCP; the Unix socket is the way in, with the same prefix', async () => {
  const gateway = await gatewayStandIn();
  const tcpListeners = () => process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length;
  for (let wait = 0; wait < 100 && tcpListeners() > 1; wait++) await sleep(10);
  const before = tcpListeners();
  const forwarder = await GatewayForwarder.start({ url: gateway.url, credential: 'cgw1.claims.mac' }, { activity: () => undefined, refused: () => undefined });
  cleanups.push(() => forwarder.close());
  expect(tcpListeners()).toBe(before);
  expect(statSync(forwarder.socketPath).mode & 0o777).toBe(0o600);
  const overSocket = unixSocketFetch(forwarder.socketPath);
  const signal = new AbortController().signal;
  const refused = await overSocket(new URL(`http://127.0.0.1:${forwarder.port}/anthropic/v1/messages`), { method: 'POST', headers: {}, body: '{}', signal });
  expect(refused.status).toBe(404);
  const answer = await overSocket(new URL(`${forwarder.url}/anthropic/v1/messages`), { method: 'POST', headers: {}, body: '{}', signal });
  expect(answer.status).toBe(200);
  expect(await answer.json()).toEqual({ ok: true });
  expect(gateway.seen.map((headers) => headers['x-cairn-credential'])).toEqual(['cgw1.claims.mac']);
});
