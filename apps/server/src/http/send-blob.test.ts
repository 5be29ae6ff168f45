// Blobs are served streamed from storage: a large snapshot round-trips byte for byte with its
// length and digest, and a blob altered on disk never reaches a client complete.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const serve = runningServers();

test('a 20 MiB blob uploads and streams back byte for byte with its length and digest; an altered one is cut off', { timeout: 60_000 }, async () => {
  const { api, directory } = await serve();
  const body = randomBytes(20 * 1024 * 1024);
  const uploaded = await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
  expect(uploaded.status).toBe(201);
  const { digest } = (await uploaded.json()) as { digest: string };

  const fetched = await api(`/v1/blobs/${digest}`);
  expect([fetched.status, fetched.headers.get('content-length'), fetched.headers.get('x-cairn-digest')]).toEqual([200, String(body.byteLength), digest]);
  expect(Buffer.from(await fetched.arrayBuffer()).equals(body)).toBe(true);

  // One byte changed on disk: the stream is ended before it completes, never served as the blob.
  const altered = Buffer.from(body);
  altered.writeUInt8(altered.readUInt8(altered.byteLength - 1) ^ 0xff, altered.byteLength - 1);
  writeFileSync(join(directory, 'cairn-data', 'storage', 'blobs', digest.slice('sha256:'.length)), altered);
  const cut = await api(`/v1/blobs/${digest}`);
  await expect(cut.arrayBuffer()).rejects.toThrow();
  expect((await api('/healthz')).status).toBe(200);
});
