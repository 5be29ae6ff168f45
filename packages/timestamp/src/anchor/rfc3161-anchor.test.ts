import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readTimestampTokenInfo, verifyTimestampToken } from '@cairn/audit';
import type { AnchorCheckpoint } from '@cairn/core';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { OpensslTestTsa } from '../testing/openssl-tsa-server.ts';
import { createRfc3161Anchor } from './rfc3161-anchor.ts';

let tsa: OpensslTestTsa;
let stranger: OpensslTestTsa;
beforeAll(async () => {
  [tsa, stranger] = await Promise.all([OpensslTestTsa.start(), OpensslTestTsa.start()]);
});
afterAll(async () => {
  await Promise.all([tsa.close(), stranger.close()]);
});
beforeEach(() => {
  tsa.behaviour = 'grant';
  tsa.queries.length = 0;
});

let treeSize = 100;
/** A fresh checkpoint (its own tree size) with envelope bytes like the engine's. */
function checkpoint(rootHash = 'a'.repeat(64)): AnchorCheckpoint {
  treeSize++;
  const envelope = new TextEncoder().encode(
    JSON.stringify({
      payload: Buffer.from(`{"treeSize":${treeSize},"rootHash":"${rootHash}"}`).toString('base64'),
      payloadType: 'application/vnd.cairn.checkpoint+json',
      signatures: [],
    }),
  );
  return { origin: 'cairn:test', treeSize, rootHash, envelope };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

describe('the RFC 3161 anchor against OpenSSL ts -reply on loopback', () => {
  test('stamps the SHA-256 of the envelope bytes and keeps the verified token in the receipt', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const head = checkpoint();
    const before = Date.now() - 2_000;
    const receipt = await anchor.anchor(head);
    expect(receipt).toMatchObject({
      anchor: 'rfc3161',
      guarantee: 'detect',
      location: tsa.url,
      origin: head.origin,
      treeSize: head.treeSize,
      rootHash: head.rootHash,
      envelopeDigest: `sha256:${sha256(head.envelope).toString('hex')}`,
    });
    const token = Buffer.from(receipt.timestampToken!, 'base64');
    // An independent check of what the TSA signed: it verifies with the TSA certificate over exactly these bytes.
    const verified = verifyTimestampToken(token, head.envelope, [tsa.certificate]);
    expect(receipt.anchoredAt).toBe(verified.time);
    expect(Date.parse(receipt.anchoredAt)).toBeGreaterThanOrEqual(before);
    const info = readTimestampTokenInfo(token);
    expect(info.hashAlgorithm).toBe('sha256');
    expect(Buffer.from(info.hashedMessage).toString('hex')).toBe(sha256(head.envelope).toString('hex'));
    // What went over the wire is a TimeStampReq openssl itself reads: SHA-256 imprint, a nonce, certReq.
    expect(tsa.queries).toHaveLength(1);
    const query = Buffer.from(tsa.queries[0]!);
    expect(query.includes(sha256(head.envelope))).toBe(true);
    expect(query.subarray(-3)).toEqual(Buffer.from([0x01, 0x01, 0xff]));
    expect(await anchor.read(head)).toBeNull();
    expect(await anchor.read(head, receipt)).toBeNull();
  });

  test('each request carries a fresh nonce that the token echoes', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const first = await anchor.anchor(checkpoint());
    const second = await anchor.anchor(checkpoint());
    const nonces = [first, second].map((receipt) => readTimestampTokenInfo(Buffer.from(receipt.timestampToken!, 'base64')).nonce);
    expect(nonces[0]).toBeTypeOf('bigint');
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  test('the same tree head again returns the first receipt without asking the TSA; another root for it is an equivocation', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const head = checkpoint();
    const [first, racing] = await Promise.all([anchor.anchor(head), anchor.anchor(head)]);
    expect(racing).toBe(first);
    expect(await anchor.anchor(head)).toBe(first);
    expect(tsa.queries).toHaveLength(1);
    await expect(anchor.anchor({ ...head, rootHash: 'b'.repeat(64) })).rejects.toMatchObject({ code: 'CAIRN_ANCHOR_CONFLICT' });
    expect(tsa.queries).toHaveLength(1);
    // A malformed checkpoint is refused before any request, as a rejection (like every other error).
    await expect(anchor.anchor({ ...checkpoint(), rootHash: 'not hex' })).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: expect.stringMatching(/rootHash/),
    });
    expect(tsa.queries).toHaveLength(1);
  });

  test('a token from a different TSA is refused, named', async () => {
    const anchor = createRfc3161Anchor({ url: stranger.url, trustedCertificate: tsa.certificate });
    await expect(anchor.anchor(checkpoint())).rejects.toMatchObject({
      code: 'CAIRN_TIMESTAMP_REFUSED',
      message: expect.stringMatching(/no trusted TSA certificate verifies its signature/),
    });
  });

  test('a token over another checkpoint (another SHA-256 hash) is refused, named', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const other = checkpoint();
    tsa.behaviour = { digest: sha256(other.envelope).toString('hex'), algorithm: 'sha256' };
    await expect(anchor.anchor(checkpoint())).rejects.toMatchObject({
      code: 'CAIRN_TIMESTAMP_REFUSED',
      message: expect.stringMatching(/message imprint mismatch/),
    });
  });

  test('a token over a different hash (SHA-512 of the same envelope) is refused, named', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const head = checkpoint();
    tsa.behaviour = { digest: createHash('sha512').update(head.envelope).digest('hex'), algorithm: 'sha512' };
    await expect(anchor.anchor(head)).rejects.toMatchObject({
      code: 'CAIRN_TIMESTAMP_REFUSED',
      message: expect.stringMatching(/stamps a sha512 hash, but the request asked for sha256/),
    });
  });

  test('a reply with another nonce (an answer to another request) is refused, named', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    tsa.behaviour = 'other-nonce';
    await expect(anchor.anchor(checkpoint())).rejects.toMatchObject({
      code: 'CAIRN_TIMESTAMP_REFUSED',
      message: expect.stringMatching(/nonce .* not the request's/),
    });
  });

  test('a rejection status is refused, naming the status and the failure', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    tsa.behaviour = 'reject';
    await expect(anchor.anchor(checkpoint())).rejects.toMatchObject({
      code: 'CAIRN_TIMESTAMP_REFUSED',
      message: expect.stringMatching(/answered rejection \(.*badAlg/),
    });
  });

  test('a TSA that is down, answers 503 or does not answer in time is unavailable; the next try asks again and succeeds', async () => {
    const anchor = createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificate });
    const head = checkpoint();
    tsa.behaviour = 'unavailable';
    await expect(anchor.anchor(head)).rejects.toMatchObject({ code: 'CAIRN_ANCHOR_UNAVAILABLE', message: expect.stringMatching(/HTTP 503/) });
    tsa.behaviour = 'grant';
    expect((await anchor.anchor(head)).timestampToken).toBeDefined();
    expect(tsa.queries).toHaveLength(2);

    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/tsr`;
    try {
      const slow = createRfc3161Anchor({ url: silentUrl, trustedCertificate: tsa.certificate, timeoutMs: 200 });
      await expect(slow.anchor(checkpoint())).rejects.toMatchObject({
        code: 'CAIRN_ANCHOR_UNAVAILABLE',
        message: expect.stringMatching(/no answer within 200 ms/),
      });
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
    const closed = createRfc3161Anchor({ url: silentUrl, trustedCertificate: tsa.certificate });
    await expect(closed.anchor(checkpoint())).rejects.toMatchObject({ code: 'CAIRN_ANCHOR_UNAVAILABLE', message: expect.stringMatching(/ECONNREFUSED/) });
  });

  test('a URL that is not a TSA endpoint (a web page) is refused, named', async () => {
    const page = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html></html>');
    });
    await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
    try {
      const anchor = createRfc3161Anchor({ url: `http://127.0.0.1:${(page.address() as AddressInfo).port}/`, trustedCertificate: tsa.certificate });
      await expect(anchor.anchor(checkpoint())).rejects.toMatchObject({
        code: 'CAIRN_TIMESTAMP_REFUSED',
        message: expect.stringMatching(/answered text\/html, not application\/timestamp-reply/),
      });
    } finally {
      await new Promise((resolve) => page.close(resolve));
    }
  });

  test('a TSA behind HTTP basic auth: credentials in the url are sent as Authorization, never written into the receipt', async () => {
    const guarded = createServer((request, response) => {
      if (request.headers.authorization !== `Basic ${Buffer.from('acme:s3cret word').toString('base64')}`) {
        response.writeHead(401, { 'content-type': 'text/plain' });
        response.end('who are you?');
        return;
      }
      relayToTsa(request, response, 'application/timestamp-reply');
    });
    await new Promise<void>((resolve) => guarded.listen(0, '127.0.0.1', resolve));
    const port = (guarded.address() as AddressInfo).port;
    try {
      const anchor = createRfc3161Anchor({ url: `http://acme:s3cret%20word@127.0.0.1:${port}/tsr`, trustedCertificate: tsa.certificate });
      const receipt = await anchor.anchor(checkpoint());
      expect(receipt.location).toBe(`http://127.0.0.1:${port}/tsr`);
      expect(JSON.stringify(receipt)).not.toContain('s3cret');
      const stranger = createRfc3161Anchor({ url: `http://127.0.0.1:${port}/tsr`, trustedCertificate: tsa.certificate });
      await expect(stranger.anchor(checkpoint())).rejects.toMatchObject({ code: 'CAIRN_TIMESTAMP_REFUSED', message: expect.stringMatching(/HTTP 401/) });
    } finally {
      await new Promise((resolve) => guarded.close(resolve));
    }
  });

  test("a reply under the drafts' media type application/timestamp-response is read like any other", async () => {
    const relay = createServer((request, response) => relayToTsa(request, response, 'application/timestamp-response'));
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const anchor = createRfc3161Anchor({ url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}/`, trustedCertificate: tsa.certificate });
      expect((await anchor.anchor(checkpoint())).timestampToken).toBeDefined();
    } finally {
      await new Promise((resolve) => relay.close(resolve));
    }
  });

  test('an RSA TSA whose tokens carry the optional ordering and TSA name fields is read and verified too', async () => {
    const rsa = await OpensslTestTsa.start({ keyType: 'rsa', optionalFields: true });
    try {
      const anchor = createRfc3161Anchor({ url: rsa.url, trustedCertificate: rsa.certificate });
      const head = checkpoint();
      const receipt = await anchor.anchor(head);
      const token = Buffer.from(receipt.timestampToken!, 'base64');
      expect(verifyTimestampToken(token, head.envelope, [rsa.certificate]).authority).toMatch(/Cairn Test TSA/);
      expect(readTimestampTokenInfo(token).nonce).toBeTypeOf('bigint');
    } finally {
      await rsa.close();
    }
  });

  test('settings: a certificate that may not stamp, or no PEM, or a URL that is not http(s), are refused naming the option', () => {
    expect(() => createRfc3161Anchor({ url: tsa.url, trustedCertificate: tsa.certificateWithoutTimestamping })).toThrow(
      expect.objectContaining({
        code: 'CAIRN_CONFIG_INVALID',
        message: expect.stringMatching(/"rfc3161\.trustedCertificate" names .*not allowed to timestamp/),
      }),
    );
    expect(() => createRfc3161Anchor({ url: tsa.url, trustedCertificate: 'nonsense' })).toThrow(
      /"rfc3161\.trustedCertificate" is not a PEM X\.509 certificate/,
    );
    expect(() => createRfc3161Anchor({ url: 'ftp://tsa.example/', trustedCertificate: tsa.certificate })).toThrow(/"rfc3161\.url" must be an http\(s\) URL/);
    expect(createRfc3161Anchor({ url: 'https://user:secret@tsa.example/tsr', trustedCertificate: tsa.certificate }).name).toBe(
      'rfc3161:https://tsa.example/tsr',
    );
  });
});

/** Hands a request's body on to the test TSA and answers with its reply, under `contentType`. */
function relayToTsa(request: IncomingMessage, response: ServerResponse, contentType: string): void {
  const parts: Buffer[] = [];
  request.on('data', (part: Buffer) => parts.push(part));
  request.on('end', () => {
    void fetch(tsa.url, { method: 'POST', headers: { 'content-type': 'application/timestamp-query' }, body: Buffer.concat(parts) })
      .then((answer) => answer.arrayBuffer())
      .then((reply) => response.writeHead(200, { 'content-type': contentType }).end(Buffer.from(reply)));
  });
}
