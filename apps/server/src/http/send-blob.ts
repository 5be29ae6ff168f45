import { Readable } from 'node:stream';
import type { StorageProviderV1 } from '@cairn/core';
import { blobKey, CairnError, isCairnError } from '@cairn/protocol';
import type { FastifyReply } from 'fastify';

/**
 * Digests whose stored content failed its check while being streamed, per storage. Once the
 * answer's 200 has gone, a mismatch can only cut the connection; the next request for that
 * digest (a client retries a cut download once) reads the whole object first, so it is answered
 * as the CAIRN_DIGEST_MISMATCH it is, before any byte.
 */
const alteredDigests = new WeakMap<StorageProviderV1, Set<string>>();

/**
 * Answers with the blob stored under `digest`: streamed in chunks when the storage can
 * (`capabilities.stream`), so a large snapshot or patch is never held whole; read at once
 * otherwise. `notFound` says what is missing in the caller's terms. A blob that fails its digest
 * check mid-stream ends the connection before its last byte, so a client never sees it complete.
 * `keys` are where it may be, tried in order (a digest names the same bytes wherever they are kept:
 * a blob, or a signed dispatch manifest).
 */
export async function sendBlob(
  reply: FastifyReply,
  storage: StorageProviderV1,
  digest: string,
  contentType: string,
  notFound: () => CairnError,
  keys: readonly string[] = [blobKey(digest)],
): Promise<FastifyReply> {
  const altered = alteredDigests.get(storage) ?? alteredDigests.set(storage, new Set()).get(storage)!;
  if (storage.capabilities.stream === true && storage.getStream !== undefined && !altered.has(digest)) {
    // The length first: once getStream has opened the object, nothing may fail before the stream
    // is handed on (an iterator never started would never close its file).
    let key: string | undefined;
    let metadata = null;
    for (const candidate of keys) {
      metadata = await storage.head(candidate);
      if (metadata !== null) {
        key = candidate;
        break;
      }
    }
    if (key === undefined || metadata === null) throw notFound();
    const chunks = await storage.getStream(key);
    if (chunks === null) throw notFound();
    void answerAs(reply, contentType, digest);
    return reply.header('content-length', metadata.size).send(
      Readable.from(
        noticingMismatch(chunks, () => altered.add(digest)),
        { objectMode: false },
      ),
    );
  }
  // Whole, and checked before the answer starts: a mismatch is a 422 naming the digest.
  let bytes: Uint8Array | null = null;
  for (const candidate of keys) {
    bytes = await storage.get(candidate);
    if (bytes !== null) break;
  }
  if (bytes === null) throw notFound();
  altered.delete(digest);
  void answerAs(reply, contentType, digest);
  return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

async function* noticingMismatch(chunks: AsyncIterable<Uint8Array>, onMismatch: () => void): AsyncGenerator<Uint8Array> {
  try {
    yield* chunks;
  } catch (error) {
    if (isCairnError(error, 'CAIRN_DIGEST_MISMATCH')) onMismatch();
    throw error;
  }
}

/**
 * The headers of a blob's answer: its type, its digest, and `attachment`, so a browser saves what
 * an item wrote (which may be markup) rather than showing it as a page of this server's origin.
 */
function answerAs(reply: FastifyReply, contentType: string, digest: string): void {
  void reply
    .type(contentType)
    .header('x-cairn-digest', digest)
    .header('content-disposition', `attachment; filename="${digest.replace('sha256:', '')}"`);
}
