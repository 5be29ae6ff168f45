// POST /v1/blobs stores what it receives by its digest: streamed into storage when the client
// names the digest (x-cairn-digest), refused when the bytes do not match it or pass the limit;
// HEAD /v1/blobs/{digest} tells an uploader whether it need send anything.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();
const digestOf = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** `bytes` as a request body sent in pieces without a length (chunked), as a stream is. */
function streamed(bytes: Uint8Array): { body: ReadableStream<Uint8Array>; duplex: 'half' } {
  const pieces = Array.from({ length: Math.ceil(bytes.byteLength / 65_536) }, (_, index) => bytes.subarray(index * 65_536, (index + 1) * 65_536));
  return { body: Readable.toWeb(Readable.from(pieces)) as ReadableStream<Uint8Array>, duplex: 'half' };
}

test('an upload naming its digest is stored as it arrives and answered with that digest; HEAD says it is there, with its length', async () => {
  const { api, composition } = await start();
  const bytes = randomBytes(3 * 1024 * 1024 + 11);
  const digest = digestOf(bytes);
  expect((await api(`/v1/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
  const stored = await api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': digest },
    ...streamed(bytes),
  });
  expect([stored.status, await stored.json()]).toEqual([201, { digest, bytes: bytes.byteLength }]);
  const head = await api(`/v1/blobs/${digest}`, { method: 'HEAD' });
  expect([head.status, head.headers.get('content-length'), head.headers.get('x-cairn-digest')]).toEqual([200, String(bytes.byteLength), digest]);
  expect(Buffer.from((await composition.storage.get(`blobs/${digest.slice(7)}`))!).equals(bytes)).toBe(true);
  // Again: nothing changes, the same answer.
  const again = await api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': digest },
    ...streamed(bytes),
  });
  expect([again.status, await again.json()]).toEqual([201, { digest, bytes: bytes.byteLength }]);
});

test('bytes that do not hash to the digest named are 422 CAIRN_DIGEST_MISMATCH and nothing is stored; a malformed digest is 400', async () => {
  const { api, composition } = await start();
  const bytes = randomBytes(200_000);
  const claimed = digestOf(randomBytes(16));
  const refused = await api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': claimed },
    ...streamed(bytes),
  });
  const body = (await refused.json()) as { code: string; message: string };
  expect([refused.status, body.code]).toEqual([422, 'CAIRN_DIGEST_MISMATCH']);
  expect(body.message).toContain(digestOf(bytes));
  expect((await composition.storage.list({ prefix: 'blobs/' })).keys).toEqual([]);
  const malformed = await api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': 'sha256:nope' },
    body: bytes,
  });
  expect([malformed.status, ((await malformed.json()) as { code: string }).code]).toEqual([400, 'CAIRN_DIGEST_INVALID']);
});

test('a streamed upload without a length is refused once it passes the limit (413, nothing stored); one without a digest is still read and stored', async () => {
  const { api, composition } = await start('tokens', { config: { server: { uploadLimitMiB: 1 } } });
  const large = randomBytes(3 * 1024 * 1024);
  const refused = await api('/v1/blobs', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-cairn-digest': digestOf(large) },
    ...streamed(large),
  }).catch((error: unknown) => error);
  // The answer comes while the body is still being sent: a client may see it, or the connection closed.
  if (refused instanceof Response) expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([413, 'CAIRN_UPLOAD_TOO_LARGE']);
  expect((await composition.storage.list({ prefix: 'blobs/' })).keys).toEqual([]);
  const small = randomBytes(1000);
  const plain = await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: small });
  expect([plain.status, await plain.json()]).toEqual([201, { digest: digestOf(small), bytes: 1000 }]);
});

test('a token that may only submit may ask whether a blob is stored (HEAD), and a reading token may not', async () => {
  const { api, base, composition } = await start();
  const small = randomBytes(100);
  await api('/v1/blobs', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: small });
  const { token: submitter } = await composition.tokens.create('submitter', ['runs:submit']);
  const { token: reader } = await composition.tokens.create('reader', ['runs:read']);
  const head = (token: string) => fetch(`${base}/v1/blobs/${digestOf(small)}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
  expect((await head(submitter)).status).toBe(200);
  expect((await head(reader)).status).toBe(403);
});
