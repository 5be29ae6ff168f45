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
    if (request.url?.includes('/events')) {
      eventStreams += 1;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      return; // a stream that never ends: the run never finishes
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ runId: 'r-1', name: 'n', state: 'running', itemsTotal: 1, itemsFinished: 0, itemsFailed: 0 }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const run = await cairn.waitForRun('r-1', { signal: AbortSignal.abort() });
  expect(run.state).toBe('running');
  expect(eventStreams).toBe(0);
  server.closeAllConnections();
});

/** A loopback server whose event stream answers each connection with `answer(connection)`. */
async function eventServer(
  answer: (response: import('node:http').ServerResponse, connection: number) => void,
): Promise<{ baseUrl: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    answer(response, connections++);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

const runState = (id: number, state: string) => ({ id, type: 'run.state', runId: 'r-1', state, time: new Date(0).toISOString() });

test('events() parses server-sent events as the spec writes them: CRLF and CR lines, data split over lines and chunks, comments, no space after the colon', async () => {
  const first = JSON.stringify(runState(0, 'running'));
  const second = JSON.stringify(runState(1, 'running'));
  const { baseUrl } = await eventServer((response) => {
    // A comment, then an event in CRLF with its JSON over two data lines (joined with \n, which JSON
    // allows between tokens), cut mid-line across writes; then one in CR with `data:` and no space.
    const cut = first.indexOf(',') + 1;
    const [head, tail] = [first.slice(0, cut), first.slice(cut)];
    response.write(': hello\r\n\r\n');
    response.write(`id: 0\r\nevent: run.state\r\ndata: ${head}`);
    response.write(`\r\ndata: ${tail}\r\n\r\n`);
    response.write(`id:1\revent:run.state\rdata:${second}\r\r`);
    // An event the connection drops before its blank line is not an event.
    response.end(`id: 2\ndata: ${JSON.stringify(runState(2, 'succeeded'))}\n`);
  });
  const cairn = createCairnClient({ baseUrl, reconnectDelayMs: 1, reconnectAttempts: 0 });
  const controller = new AbortController();
  const ids: number[] = [];
  for await (const event of cairn.events({ signal: controller.signal })) {
    ids.push(event.id);
    if (ids.length === 2) controller.abort();
  }
  expect(ids).toEqual([0, 1]);
});

test("a run's events end at its terminal state: the client does not reconnect for more", async () => {
  const { baseUrl, connections } = await eventServer((response) => {
    response.end(`id: 0\ndata: ${JSON.stringify(runState(0, 'running'))}\n\nid: 1\ndata: ${JSON.stringify(runState(1, 'succeeded'))}\n\n`);
  });
  const cairn = createCairnClient({ baseUrl, reconnectDelayMs: 1, reconnectAttempts: 0 });
  const states: string[] = [];
  for await (const event of cairn.events({ runId: 'r-1' })) if (event.type === 'run.state') states.push(event.state);
  expect(states).toEqual(['running', 'succeeded']);
  expect(connections()).toBe(1);
});

test('an event whose data is not a Cairn event is a clear CAIRN_PAYLOAD_INVALID, not endless reconnects', async () => {
  const { baseUrl, connections } = await eventServer((response) => response.end('id: 0\ndata: <html>not an event</html>\n\n'));
  const cairn = createCairnClient({ baseUrl, reconnectDelayMs: 1, reconnectAttempts: 3 });
  const error = await (async () => {
    for await (const event of cairn.events()) throw new Error(`not an event: ${JSON.stringify(event)}`);
  })().catch((caught: unknown) => caught);
  expect(isCairnError(error, 'CAIRN_PAYLOAD_INVALID')).toBe(true);
  expect((error as Error).message).toContain('/v1/events');
  expect(connections()).toBe(1);
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
    const invalid = await cairn
      .submit('version: 1\nname: n\nitems:\n  - id: a\n    dependsOn: [missing]\n    runtime: { kind: command, argv: [true] }\n', { workspace: folder })
      .catch((caught: unknown) => caught);
    expect(isCairnError(invalid, 'CAIRN_RUN_SPEC_INVALID'), String(invalid)).toBe(true);
    const missing = await cairn.uploadWorkspace(join(folder, 'missing')).catch((caught: unknown) => caught);
    expect(isCairnError(missing, 'CAIRN_PAYLOAD_INVALID'), String(missing)).toBe(true);
    expect((missing as Error).message).toContain(join(folder, 'missing'));
    expect(requests).toBe(0);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('waitForRun asks the server for the run.state events only unless it is given onEvent; with types, for those and run.state; a server that sends more is filtered here', async () => {
  // Plays a server older than `types`: every event of the run, whatever was asked, and the run as it ended.
  const asked: string[] = [];
  const itemState = (id: number, state: string) => ({ id, type: 'item.state', runId: 'r-1', itemId: 'a', state, time: new Date(0).toISOString() });
  const attemptState = (id: number, state: string) => ({
    id,
    type: 'attempt.state',
    runId: 'r-1',
    itemId: 'a',
    attempt: 1,
    state,
    time: new Date(0).toISOString(),
  });
  let finished = false;
  const server = createServer((request, response) => {
    if (request.url?.includes('/events')) {
      asked.push(request.url);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = [
        runState(0, 'running'),
        itemState(1, 'running'),
        attemptState(2, 'running'),
        attemptState(3, 'succeeded'),
        itemState(4, 'succeeded'),
        runState(5, 'succeeded'),
      ];
      finished = true;
      return response.end(events.map((event) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''));
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        JSON.stringify({ runId: 'r-1', name: 'n', state: finished ? 'succeeded' : 'running', itemsTotal: 1, itemsFinished: finished ? 1 : 0, itemsFailed: 0 }),
      );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cairn = createCairnClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });

  expect((await cairn.waitForRun('r-1')).state).toBe('succeeded');
  expect(asked.splice(0)).toEqual(['/v1/runs/r-1/events?types=run.state']);

  finished = false;
  const seen: string[] = [];
  await cairn.waitForRun('r-1', { onEvent: (event) => seen.push(`${event.type} ${event.state}`), types: ['item.state'] });
  expect(asked.splice(0)).toEqual(['/v1/runs/r-1/events?types=item.state,run.state']);
  expect(seen).toEqual(['item.state running', 'item.state succeeded']);

  finished = false;
  seen.length = 0;
  await cairn.waitForRun('r-1', { onEvent: (event) => seen.push(event.type) });
  expect(asked.splice(0)).toEqual(['/v1/runs/r-1/events']);
  expect(seen).toEqual(['run.state', 'item.state', 'attempt.state', 'attempt.state', 'item.state', 'run.state']);

  const all: string[] = [];
  for await (const event of cairn.events({ types: ['attempt.state'], after: -1 })) {
    all.push(`${event.id}`);
    if (all.length === 2) break;
  }
  expect(asked.splice(0)).toEqual(['/v1/events?types=attempt.state']);
  expect(all).toEqual(['2', '3']);
});
