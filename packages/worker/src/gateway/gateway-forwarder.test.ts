// The attempt's forwarder to the model gateway: what it adds and drops on the way, and that a
// forwarder that cannot listen leaves nothing listening behind (a leaked listener keeps its
// supervisor process alive for ever).
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { GatewayForwarder } from './gateway-forwarder.ts';

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
