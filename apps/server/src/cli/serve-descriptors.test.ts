// `cairn serve` (the built CLI) with 256 open files (`ulimit -n 256`) and 300 idle connections
// held open under the header timeout: the server takes at most half its descriptors as
// connections and answers the rest 503 CAIRN_SERVER_BUSY, so a run already going keeps its
// sandboxes, storage and database; when the idle connections go, /healthz and submits answer again.
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

const { initialised, serve, cleanups } = useBuiltServer();

/** A raw GET on a fresh connection: the status line, or the socket error's code (a reset). */
function statusOf(address: string, path: string): Promise<string> {
  const { hostname, port } = new URL(address);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\nconnection: close\r\n\r\n`));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

test('with 256 open files and 300 idle connections, new connections get 503 (not a reset) and a running run still finishes', { timeout: 120_000 }, async () => {
  const { directory, token } = await initialised();
  const file = join(directory, 'cairn.config.yaml');
  const config = parse(readFileSync(file, 'utf8')) as { server?: Record<string, unknown> };
  writeFileSync(file, stringify({ ...config, server: { ...config.server, timeouts: { headers: '60s', idle: '60s' } } }));
  const { base } = await serve(directory, ['/usr/bin/prlimit', '--nofile=256:256', '--']);
  const api = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });

  // A run that is still going when the connections pile up: its items need descriptors of their own.
  const items = Array.from({ length: 4 }, (_, index) => ({
    id: `i${index}`,
    runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 2; echo done > out.txt'] },
  }));
  const submitted = await api('/v1/runs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'busy', items }),
  });
  const { runId } = (await submitted.json()) as { runId: string };

  const { hostname, port } = new URL(base);
  const idle: Socket[] = [];
  cleanups.push(() => idle.forEach((socket) => socket.destroy()));
  let closed = 0;
  for (let index = 0; index < 300; index++)
    idle.push(
      connect(Number(port), hostname)
        .on('error', () => {})
        .on('close', () => closed++)
        .resume(),
    );
  // The server holds 128 (half its descriptors); the other 172 are answered 503 (read, so that
  // their end is seen and they close), or reset once a quarter of that many are being answered. Asked before they are, on a loaded
  // machine, a new connection could be reset as one of the flood.
  // (One of the 128 may be the submit's kept-alive connection, so one more idle one is refused.)
  await expect.poll(() => closed, { timeout: 20_000 }).toBeGreaterThanOrEqual(300 - 128);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(await statusOf(base, '/healthz')).toMatch(/^HTTP\/1\.1 503 /);

  // The run goes on while they are held; once they go, the server answers again.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  for (const socket of idle) socket.destroy();
  await expect.poll(() => statusOf(base, '/healthz'), { timeout: 10_000 }).toBe('HTTP/1.1 200 OK');
  let run: { state: string; failedItems?: unknown } = { state: 'unknown' };
  await expect.poll(async () => (run = (await (await api(`/v1/runs/${runId}`)).json()) as typeof run).state, { timeout: 30_000 }).toMatch(/succeeded|failed/);
  expect(run.state, JSON.stringify(run.failedItems)).toBe('succeeded');
});
