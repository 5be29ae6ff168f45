import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Digest, StorageProviderV1 } from '@cairn/core';
import { blobKey, CairnError, isDigest, sha256Digest } from '@cairn/protocol';

/** What an upload stored: the digest of the bytes received and how many there were. */
export interface StoredUpload {
  readonly digest: Digest;
  readonly bytes: number;
}

/**
 * The error a body over the route's limit is answered with: Fastify's own code, so the one
 * reply (CAIRN_UPLOAD_TOO_LARGE naming the limit and `server.uploadLimitMiB`) says it whether
 * the length was announced or only counted.
 */
function tooLarge(): Error {
  return Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
}

/**
 * Stores an upload (`POST /v1/blobs`) by the digest of the bytes received. With a digest the
 * client announces (`x-cairn-digest`) and a storage that can (`capabilities.putStream`), the body
 * goes to storage as it arrives, hashed and counted on the way, never held: bytes that do not
 * hash to the announced digest are CAIRN_DIGEST_MISMATCH and nothing is stored (the check
 * throws from the body's last step, before storage publishes it). Otherwise the body is read
 * whole, as before, and put. Either way a body over `limitBytes` is refused (by its announced
 * length before a byte is read, else as soon as the count passes it), and nothing is stored.
 */
export async function storeUpload(
  storage: StorageProviderV1,
  body: Readable,
  options: { readonly announcedDigest: string | undefined; readonly contentLength: string | undefined; readonly limitBytes: number },
): Promise<StoredUpload> {
  const { announcedDigest, limitBytes } = options;
  if (announcedDigest !== undefined && !isDigest(announcedDigest))
    throw new CairnError(
      'CAIRN_DIGEST_INVALID',
      `The x-cairn-digest header must be sha256:<64 lowercase hex digits>, got ${JSON.stringify(announcedDigest.slice(0, 90))}.`,
      {
        path: 'headers.x-cairn-digest',
      },
    );
  if (options.contentLength !== undefined && Number(options.contentLength) > limitBytes) throw tooLarge();
  const received = { bytes: 0 };
  const hash = createHash('sha256');
  async function* counted(release: boolean): AsyncGenerator<Uint8Array> {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received.bytes += chunk.byteLength;
      if (received.bytes > limitBytes) throw tooLarge();
      hash.update(chunk);
      yield chunk;
      // Asked for the next one: putStream's contract lets the producer reuse this chunk now.
      if (release) releaseChunk(chunk);
    }
  }
  if (announcedDigest !== undefined && storage.capabilities.putStream === true && storage.putStream !== undefined) {
    const expected: Digest = announcedDigest;
    async function* checked(): AsyncGenerator<Uint8Array> {
      yield* counted(body instanceof IncomingMessage);
      const digest = `sha256:${hash.digest('hex')}`;
      if (digest !== expected) throw mismatch(expected, digest);
    }
    await storage.putStream(blobKey(expected), checked(), { ifAbsent: true });
    return { digest: expected, bytes: received.bytes };
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of counted(false)) chunks.push(chunk);
  const joined = Buffer.concat(chunks);
  const bytes = new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  const digest = sha256Digest(bytes);
  if (announcedDigest !== undefined && digest !== announcedDigest) throw mismatch(announcedDigest, digest);
  await storage.put(blobKey(digest), bytes, { ifAbsent: true });
  return { digest, bytes: bytes.byteLength };
}

/**
 * Frees the memory of a request chunk the storage is done with, at once rather than at the next
 * garbage collection: a chunk of a request read from a socket is a Buffer over a memory block of
 * its own (one read), dead once written, and V8 collects such blocks only after 64 MiB of them
 * have piled up, which was most of the server's peak memory while a large workspace streamed in.
 * Only a chunk that spans its whole block is freed (detached): a slice of a larger block (a
 * chunked body's piece, a read that also held the headers) may share it with bytes still unread.
 */
function releaseChunk(chunk: Buffer): void {
  const block = chunk.buffer;
  if (!(block instanceof ArrayBuffer) || chunk.byteOffset !== 0 || chunk.byteLength !== block.byteLength || block.detached) return;
  try {
    block.transfer(0);
  } catch {
    // A block that cannot be detached is left to the garbage collector, as any other.
  }
}

function mismatch(announced: string, actual: string): CairnError {
  return new CairnError(
    'CAIRN_DIGEST_MISMATCH',
    `The upload's bytes hash to ${actual}, not the ${announced} its x-cairn-digest header names: they were altered on the way. Nothing was stored; upload again.`,
    { path: 'headers.x-cairn-digest', details: { expected: announced, actual } },
  );
}
