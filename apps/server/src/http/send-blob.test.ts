// Blobs are served streamed from storage: a large snapshot round-trips byte for byte with its
// length and digest, and a blob altered on disk never reaches a client complete.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCairnClient } from '@cairn/client';
import { isCairnError } from '@cairn/protocol';
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

test(
  'an altered blob is reported as the digest mismatch it is: the cut download is retried and answered 422 CAIRN_DIGEST_MISMATCH, which the client (and so cairn patch and cairn blob readers) reports',
  { timeout: 60_000 },
  async () => {
    const { api, base, directory, operatorToken } = await serve();
    const body = randomBytes(4 * 1024 * 1024);
    const { digest } = (await (await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body })).json()) as {
      digest: string;
    };
    const altered = Buffer.from(body);
    altered.writeUInt8(altered.readUInt8(0) ^ 0xff, 0);
    writeFileSync(join(directory, 'cairn-data', 'storage', 'blobs', digest.slice('sha256:'.length)), altered);

    const client = createCairnClient({ baseUrl: base, token: operatorToken });
    const error = await client.blob(digest).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_DIGEST_MISMATCH'), String(error)).toBe(true);
    // Once seen, the server answers the error before any byte: a plain 422 naming the code.
    const again = await api(`/v1/blobs/${digest}`);
    expect(again.status).toBe(422);
    expect(await again.json()).toMatchObject({ code: 'CAIRN_DIGEST_MISMATCH' });
    // Put right (restored from a backup), it is served again.
    writeFileSync(join(directory, 'cairn-data', 'storage', 'blobs', digest.slice('sha256:'.length)), body);
    expect(Buffer.from(await client.blob(digest)).equals(body)).toBe(true);
  },
);
