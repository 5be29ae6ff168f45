// What the HTTP layer answers at its edges, through a real server on loopback: headers too large
// (a Cairn body, none for HEAD), every answer with nosniff and blobs as attachments, a body limit
// per route (the unauthenticated sign-in route reads a short code, not 32 MiB), an upload over the
// server's limit named as the workspace it is, and connections over the cap answered 503.
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import { afterEach, expect, test } from 'vitest';
import { connectionCapOf } from './connection-limit.ts';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** What a raw HTTP/1.1 exchange on a fresh connection gets back (the whole answer, until the server closes). */
function exchange(base: string, request: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error(`no answer: ${answer}`)));
  });
}

test('headers over 16 KiB get a Cairn error body (431, code, message, action); a HEAD request gets no body', async () => {
  const { base } = await start();
  const big = `x-filler: ${'a'.repeat(20_000)}\r\n`;
  const get = await exchange(base, `GET /v1/runs HTTP/1.1\r\nhost: 127.0.0.1\r\n${big}\r\n`);
  expect(get).toMatch(/^HTTP\/1\.1 431 /);
  expect(get.toLowerCase()).toContain('x-content-type-options: nosniff');
  const body = JSON.parse(get.slice(get.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
  expect(body).toMatchObject({ code: 'CAIRN_REQUEST_HEADERS_TOO_LARGE', path: 'headers' });
  expect(body['action']).toContain('shorter headers');
  expect(Object.keys(body)).not.toContain('statusCode');
  const head = await exchange(base, `HEAD /v1/runs HTTP/1.1\r\nhost: 127.0.0.1\r\n${big}\r\n`);
  expect(head).toMatch(/^HTTP\/1\.1 431 /);
  expect(head.slice(head.indexOf('\r\n\r\n') + 4)).toBe('');
});

test('every answer says nosniff — JSON, errors, blobs, event and log streams — and a blob is an attachment', async () => {
  const { api } = await start();
  const stored = (await (
    await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: '<script>1</script>' })
  ).json()) as {
    digest: string;
  };
  const blob = await api(`/v1/blobs/${stored.digest}`);
  expect(blob.headers.get('content-disposition')).toBe(`attachment; filename="${stored.digest.slice('sha256:'.length)}"`);
  const controller = new AbortController();
  const answers = [
    await api('/v1/runs'),
    await api('/healthz'),
    await api('/v1/runs/none'),
    await fetch(new URL('/v1/runs', (await api('/healthz')).url)),
    blob,
    await api('/v1/runs/none/items/x/logs'),
    await api('/v1/events', { signal: controller.signal }),
  ];
  controller.abort();
  for (const answer of answers) expect(answer.headers.get('x-content-type-options'), answer.url).toBe('nosniff');
});

test('the unauthenticated sign-in route reads no more than a short code: 32 MiB bodies are refused unread, and /healthz answers meanwhile', async () => {
  const { api, base } = await start();
  const huge = Buffer.alloc(32 * 1024 * 1024, 'a');
  const redeems = Array.from({ length: 4 }, () =>
    fetch(`${base}/v1/session/redeem`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: huge }).then(async (answer) => ({
      status: answer.status,
      body: (await answer.json()) as { code: string; message: string },
    })),
  );
  const began = Date.now();
  expect((await api('/healthz')).status).toBe(200);
  expect(Date.now() - began).toBeLessThan(2_000);
  for (const { status, body } of await Promise.all(redeems)) {
    expect([status, body.code]).toEqual([400, 'CAIRN_PAYLOAD_INVALID']);
    expect(body.message).toContain('takes up to 1024 bytes');
  }
});

test('a workspace over the upload limit is refused naming the workspace, its size, the limit and the setting; nothing is stored', async () => {
  const { base, operatorToken } = await start('tokens', { config: { server: { uploadLimitMiB: 1 } } });
  const workspace = mkdtempSync(join(tmpdir(), 'cairn-big-workspace-'));
  cleanups.push(() => rmSync(workspace, { recursive: true, force: true }));
  mkdirSync(join(workspace, 'data'));
  // Incompressible, so the snapshot is as large as the files.
  writeFileSync(join(workspace, 'data', 'blob.bin'), randomBytes(3 * 1024 * 1024));
  const client = createCairnClient({ baseUrl: base, token: operatorToken });
  const refused = await client.uploadWorkspace(workspace).then(
    () => null,
    (error: unknown) => error as { code: string; message: string; action: string; path: string },
  );
  expect(refused?.code).toBe('CAIRN_UPLOAD_TOO_LARGE');
  expect(refused?.message).toContain(`The workspace ${workspace} makes a snapshot of`);
  expect(refused?.message).toContain('1048576 bytes (1 MiB, server.uploadLimitMiB)');
  expect(refused?.action).toContain('server.uploadLimitMiB');
  expect(refused?.message).not.toContain('split the run');
});

test('connections over the cap are answered 503 CAIRN_SERVER_BUSY and closed, never reset; once they close, the server answers again', async () => {
  // Half the open-files limit at most: 256 descriptors hold 128 connections, the rest stays for the engine.
  expect(connectionCapOf(256, undefined)).toBe(128);
  expect(connectionCapOf(256, 20)).toBe(20);
  expect(connectionCapOf(null, undefined)).toBe(1_000_000);

  const { base, api, operatorToken } = await start('tokens', { config: { server: { maxConnections: 10 } } });
  const { hostname, port } = new URL(base);
  const held = await Promise.all(
    Array.from(
      { length: 10 },
      () =>
        new Promise<ReturnType<typeof connect>>((resolve) => {
          const socket = connect(Number(port), hostname, () => resolve(socket));
        }),
    ),
  );
  cleanups.push(() => held.forEach((socket) => socket.destroy()));
  // Let the server see them all before the eleventh.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const busy = await exchange(base, 'GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
  expect(busy).toMatch(/^HTTP\/1\.1 503 /);
  expect(JSON.parse(busy.slice(busy.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'CAIRN_SERVER_BUSY' });

  // A request on a refused connection is never acted on, a good token and all: no run is made.
  const submit = JSON.stringify({ version: 1, name: 'x', items: [{ id: 'a', runtime: { kind: 'command', argv: ['/bin/true'] } }] });
  const refused = await exchange(
    base,
    `POST /v1/runs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${operatorToken}\r\ncontent-type: application/json\r\ncontent-length: ${submit.length}\r\n\r\n${submit}`,
  );
  expect(refused).toMatch(/^HTTP\/1\.1 503 /);
  for (const socket of held) socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect((await api('/healthz')).status).toBe(200);
  expect(((await (await api('/v1/runs')).json()) as { runs: unknown[] }).runs).toEqual([]);
});
