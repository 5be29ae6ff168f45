import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { createCairnClient } from './cairn-client.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('a server that cannot be reached is CAIRN_SERVER_UNREACHABLE naming the URL, not an internal error', async () => {
  const port = await closedPort();
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${port}` });
  const error = await cairn.run('r-1').catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_SERVER_UNREACHABLE')).toBe(true);
  expect((error as Error).message).toContain(`http://127.0.0.1:${port}/v1/runs/r-1`);
  expect((error as Error).message).toContain('ECONNREFUSED');
});

test('events() against a dead server gives up after reconnectAttempts failed reconnects in a row', async () => {
  const port = await closedPort();
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${port}`, reconnectDelayMs: 1, reconnectAttempts: 3 });
  const started = Date.now();
  const error = await (async () => {
    for await (const event of cairn.events()) throw new Error(`no event can come from a dead server, got ${JSON.stringify(event)}`);
  })().catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_SERVER_UNREACHABLE')).toBe(true);
  expect((error as Error).message).toContain('after 4 attempts in a row');
  expect(Date.now() - started).toBeLessThan(10_000);
});

test('events() keeps following a server that drops the stream but answers each reconnect, resuming after the last event', async () => {
  // Each connection sends one event after the Last-Event-ID it was given, then drops: three
  // connections, more than reconnectAttempts, must not make the client give up.
  const seen: string[] = [];
  const server = createServer((request, response) => {
    const last = Number(request.headers['last-event-id'] ?? -1);
    seen.push(String(last));
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const id = last + 1;
    response.end(`id: ${id}\ndata: ${JSON.stringify({ id, type: 'run.state', runId: 'r-1', state: 'running', at: new Date(0).toISOString() })}\n\n`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reconnectDelayMs: 1, reconnectAttempts: 1 });
  const ids: number[] = [];
  for await (const event of cairn.events()) {
    ids.push(event.id);
    if (ids.length === 4) break;
  }
  expect(ids).toEqual([0, 1, 2, 3]);
  expect(seen).toEqual(['-1', '0', '1', '2']);
});

test('waitForRun with a signal aborted before the call returns at once instead of following the run to its end', async () => {
  let eventStreams = 0;
  const server = createServer((request, response) => {
    if (request.url?.endsWith('/events')) {
      eventStreams += 1;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      return; // a stream that never ends: the run never finishes
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ runId: 'r-1', name: 'n', state: 'running', itemsTotal: 1, itemsFinished: 0, itemsFailed: 0 }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const run = await cairn.waitForRun('r-1', { signal: AbortSignal.abort() });
  expect(run.state).toBe('running');
  expect(eventStreams).toBe(0);
  server.closeAllConnections();
});

test('submit with a workspace checks the spec and uploadWorkspace checks the folder before anything reaches the server', async () => {
  let requests = 0;
  const server = createServer((_request, response) => {
    requests += 1;
    response.writeHead(500).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const folder = mkdtempSync(join(tmpdir(), 'cairn-client-workspace-'));
  try {
    const invalid = await cairn.submit('version: 1\nname: n\nitems:\n  - id: a\n    dependsOn: [missing]\n    runtime: { kind: command, argv: [true] }\n', { workspace: folder }).catch((caught: unknown) => caught);
    expect(isCairnError(invalid, 'CAIRN_RUN_SPEC_INVALID'), String(invalid)).toBe(true);
    const missing = await cairn.uploadWorkspace(join(folder, 'missing')).catch((caught: unknown) => caught);
    expect(isCairnError(missing, 'CAIRN_PAYLOAD_INVALID'), String(missing)).toBe(true);
    expect((missing as Error).message).toContain(join(folder, 'missing'));
    expect(requests).toBe(0);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
