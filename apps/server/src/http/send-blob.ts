import { Readable } from 'node:stream';
import type { StorageProviderV1 } from '@cairn/core';
import { blobKey, CairnError } from '@cairn/protocol';
import type { FastifyReply } from 'fastify';

/**
 * Answers with the blob stored under `digest`: streamed in chunks when the storage can
 * (`capabilities.stream`), so a large snapshot or patch is never held whole; read at once
 * otherwise. `notFound` says what is missing in the caller's terms. A blob that fails its digest
 * check mid-stream ends the connection before its last byte, so a client never sees it complete.
 */
export async function sendBlob(reply: FastifyReply, storage: StorageProviderV1, digest: string, contentType: string, notFound: () => CairnError): Promise<FastifyReply> {
  const key = blobKey(digest);
  void reply.type(contentType).header('x-cairn-digest', digest);
  if (storage.capabilities.stream === true && storage.getStream !== undefined) {
    // The length first: once getStream has opened the object, nothing may fail before the stream
    // is handed on (an iterator never started would never close its file).
    const metadata = await storage.head(key);
    if (metadata === null) throw notFound();
    const chunks = await storage.getStream(key);
    if (chunks === null) throw notFound();
    return reply.header('content-length', metadata.size).send(Readable.from(chunks, { objectMode: false }));
  }
  const bytes = await storage.get(key);
  if (bytes === null) throw notFound();
  return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
