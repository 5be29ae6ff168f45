import { Readable } from 'node:stream';
import { blobKey, CairnError, manifestKey } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../composition/server-composition.ts';
import { storeUpload } from './blob-upload.ts';
import type { HttpApp } from './http-app.ts';
import { bytesAnswer } from './response-schemas.ts';
import { sendBlob } from './send-blob.ts';

const digestParams = z.strictObject({ digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>') });

/**
 * Blobs by digest: workspace snapshots and other inputs stored by the digest of their bytes (what a
 * run spec names), whether one is stored, and any stored blob (a patch, a log, an output, a
 * snapshot or a signed dispatch manifest) streamed. An upload reaches its route as the stream it
 * is: `storeUpload` reads it, within `uploadLimitBytes`, straight into storage when it can.
 */
export function registerBlobRoutes(app: HttpApp, { storage }: ServerComposition, uploadLimitBytes: number): void {
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.post(
    '/v1/blobs',
    {
      bodyLimit: uploadLimitBytes,
      config: { action: 'runs.submit', body: 'upload' },
      schema: {
        operationId: 'storeBlob',
        summary:
          'Store bytes (a workspace snapshot) by their digest; returns it. With x-cairn-digest naming the digest, the bytes go to storage as they arrive (422 when they do not hash to it)',
        headers: z
          .object({
            'x-cairn-digest': z.string().optional().meta({
              description: 'The digest of the bytes sent: they are stored as they arrive, never held whole, and refused (422) when they do not match',
            }),
          })
          .passthrough(),
        response: { 201: z.strictObject({ digest: z.string(), bytes: z.int() }) },
      },
    },
    async (request, reply) => {
      if (!(request.body instanceof Readable)) throw new CairnError('CAIRN_PAYLOAD_INVALID', 'Send the bytes as application/octet-stream.', { path: 'body' });
      const announced = request.headers['x-cairn-digest'];
      const body = request.body;
      try {
        const stored = await storeUpload(storage, body, {
          announcedDigest: typeof announced === 'string' ? announced : undefined,
          contentLength: request.headers['content-length'],
          limitBytes: uploadLimitBytes,
        });
        return await reply.status(201).send(stored);
      } catch (error) {
        // Refused before the body's end (over the limit): the rest is never read, so the
        // connection cannot carry another request; the client is told to open a new one.
        if (!body.readableEnded) void reply.header('connection', 'close');
        throw error;
      }
    },
  );
  // Before the GET, which would otherwise answer HEAD itself by reading the whole blob. Allowed to
  // whoever may upload: a client asks it before sending a snapshot the server may already hold.
  app.head(
    '/v1/blobs/:digest',
    {
      config: { action: 'runs.submit', swagger: { exposeHeadRoute: true } },
      schema: {
        operationId: 'checkBlob',
        summary: 'Whether a blob (an upload) is stored, its length in content-length, without its bytes: 404 when it is not',
        params: digestParams,
        response: { 200: z.null().meta({ description: 'It is stored; content-length is its length' }) },
      },
    },
    async (request, reply) => {
      const metadata = await storage.head(blobKey(request.params.digest));
      if (metadata === null) throw new CairnError('CAIRN_NOT_FOUND', `No blob ${request.params.digest} is stored here.`, { path: 'digest' });
      return reply.header('content-length', metadata.size).header('x-cairn-digest', request.params.digest).send(null);
    },
  );
  app.get(
    '/v1/blobs/:digest',
    {
      config: { action: 'blobs.read' },
      schema: {
        operationId: 'getBlob',
        summary: "A patch, log, output, snapshot or an attempt's signed dispatch manifest by digest, streamed",
        params: digestParams,
        response: { 200: bytesAnswer('application/octet-stream', 'The bytes whose sha256 is the digest') },
      },
    },
    async (request, reply) => {
      return sendBlob(
        reply,
        storage,
        request.params.digest,
        'application/octet-stream',
        () => new CairnError('CAIRN_NOT_FOUND', `No blob ${request.params.digest} is stored here.`, { path: 'digest' }),
        // A dispatch manifest is kept apart from the blobs, under the digest of its exact bytes too.
        [blobKey(request.params.digest), manifestKey(request.params.digest)],
      );
    },
  );
}
