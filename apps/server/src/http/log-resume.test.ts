// A follower whose log stream is cut mid-way (a proxy drops the connection, twice) reconnects for
// the same attempt at the bytes it has, and sees every byte of the output exactly once, then the
// end. Real sandboxes, real storage, real HTTP on loopback through a real TCP proxy.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createCairnClient } from '@cairn/client';
import type { ItemLogLine } from '@cairn/core';
import { afterEach, expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const proxies: Server[] = [];
afterEach(() => {
  for (const proxy of proxies.splice(0)) proxy.close();
});

/**
 * A TCP proxy to `target` that cuts the first `cuts` connections carrying a log request once the
 * server has sent `afterBytes` bytes of the answer. Records each log request's first line.
 */
async function cuttingProxy(target: URL, cuts: number, afterBytes: number) {
  const logRequests: string[] = [];
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let armed = false;
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      const requestLine = chunk.toString('latin1').split('\r\n', 1)[0]!;
      if (requestLine.startsWith('GET ') && requestLine.includes('/logs')) {
        logRequests.push(requestLine);
        if (cuts > 0) {
          cuts -= 1;
          armed = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      client.write(chunk);
      sent += armed ? chunk.byteLength : 0;
      if (armed && sent >= afterBytes) {
        client.destroy();
        upstream.destroy();
      }
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => {});
      socket.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  proxies.push(proxy);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, logRequests };
}

test('a followed log cut twice mid-stream resumes at its byte offsets: every line once, in order, then the end', { timeout: 60_000 }, async () => {
  const { base, operatorToken } = await start();
  const proxy = await cuttingProxy(new URL(base), 2, 700);
  const client = createCairnClient({ baseUrl: proxy.url, token: operatorToken, reconnectDelayMs: 50 });
  // Some lines hold a multi-byte character, so offsets are bytes, not characters.
  const script = 'for i in $(seq 1 60); do echo "line $i é"; echo "err $i" >&2; sleep 0.03; done';
  const { runId } = await client.submit({
    version: 1,
    name: 'chatty',
    items: [{ id: 'chatty', runtime: { kind: 'command', argv: ['/bin/sh', '-c', script] } }],
  });

  const lines: ItemLogLine[] = [];
  for await (const line of client.logs(runId, 'chatty', { follow: true })) lines.push(line);

  const text = (stream: string) => lines.flatMap((line) => ('stream' in line && line.stream === stream ? [line.text] : [])).join('');
  const numbers = Array.from({ length: 60 }, (_, index) => index + 1);
  expect(text('stdout')).toBe(numbers.map((n) => `line ${n} é\n`).join(''));
  expect(text('stderr')).toBe(numbers.map((n) => `err ${n}\n`).join(''));
  expect(lines.at(-1)).toMatchObject({ end: { attempt: 1, state: 'succeeded', exitCode: 0 } });
  // Cut twice: three requests, the later ones for attempt 1 at the bytes already had.
  expect(proxy.logRequests).toHaveLength(3);
  expect(proxy.logRequests[1]).toMatch(/[?&]attempt=1&follow=true&stdoutFrom=\d+/);
  expect(proxy.logRequests[2]).toMatch(/[?&]attempt=1&follow=true&stdoutFrom=\d+/);
});

test('a resume offset that is not a byte count is a 400 naming it', { timeout: 60_000 }, async () => {
  const { api } = await start();
  const response = await api('/v1/runs/r-any/items/any/logs?stdoutFrom=-1');
  expect(response.status).toBe(400);
  expect(await response.json()).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'query.stdoutFrom' });
});
