import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { builtin } from './builtin-module.ts';

/**
 * An answer of the server as `httpRequest` gives it: the part of fetch's `Response` the client
 * reads, with the same meaning (`ok` for 2xx, `headers.get` joining repeated headers with ", ",
 * a body decoded from its `content-encoding` as fetch decodes it).
 */
export interface HttpAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  /**
   * The body's bytes as they arrive. A body cut off before its end throws while it is read, as
   * one whose request's signal aborts does (with the signal's reason). Leaving the loop early
   * closes the connection.
   */
  readonly body: AsyncIterable<Uint8Array>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
  /** Reads the body to its end and drops it, so that the connection serves the next request. */
  discard(): Promise<void>;
}

// Statuses whose answer has no body (fetch's "null body status"): nothing to decode.
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/** `response` as an HttpAnswer; `method` decides, as in fetch, whether its body is decoded. */
export async function httpAnswerOf(method: string, response: IncomingMessage): Promise<HttpAnswer> {
  const status = response.statusCode ?? 0;
  const body = method === 'HEAD' || nullBodyStatuses.has(status) ? response : await decoded(response);
  const bytes = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  return {
    status,
    ok: status >= 200 && status <= 299,
    headers: {
      get(name) {
        const value = response.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    },
    body: body as AsyncIterable<Uint8Array>,
    // As fetch's json(): UTF-8, a byte order mark dropped.
    json: async () => JSON.parse(new TextDecoder().decode(await bytes())) as unknown,
    arrayBuffer: async () => {
      const all = await bytes();
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
    },
    discard: async () => {
      for await (const chunk of body) void chunk;
    },
  };
}

/**
 * The body decoded as fetch decodes it: the codings of `content-encoding` undone last to first
 * (gzip, x-gzip, deflate with or without its zlib header, br); a coding it does not know leaves
 * the body as it came. zlib is loaded only for a coded answer.
 */
async function decoded(response: IncomingMessage): Promise<Readable> {
  const header = response.headers['content-encoding'];
  if (header === undefined) return response;
  const codings = header
    .toLowerCase()
    .split(',')
    .map((coding) => coding.trim());
  if (!codings.every((coding) => ['gzip', 'x-gzip', 'deflate', 'br'].includes(coding))) return response;
  const zlib = await builtin('node:zlib');
  const { pipeline, Transform } = await builtin('node:stream');
  // Flushed as it comes, and a body cut short of its coding's end is not an error (as fetch).
  const flushing = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const decoders = codings.reverse().map((coding) => {
    if (coding === 'br')
      return zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    if (coding === 'deflate') return inflateEither(zlib, Transform, flushing);
    return zlib.createGunzip(flushing);
  });
  // pipeline destroys every stage when one fails: a cut or an abort of the answer reaches the reader.
  return pipeline([response, ...decoders], () => undefined) as unknown as Readable;
}

/**
 * A deflate decoder for either form servers send under `deflate`: zlib-wrapped (as the standard
 * says) or raw (as some send), told apart by the first byte, as fetch tells them apart.
 */
function inflateEither(zlib: typeof import('node:zlib'), Transform: typeof import('node:stream').Transform, options: import('node:zlib').ZlibOptions) {
  let inflater: import('node:zlib').Inflate | import('node:zlib').InflateRaw | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (inflater === undefined) {
        if (chunk.length === 0) return done();
        // A zlib header's first byte says deflate (8) in its low four bits; raw deflate data need not.
        inflater = (chunk[0]! & 0x0f) === 0x08 ? zlib.createInflate(options) : zlib.createInflateRaw(options);
        inflater.on('data', (data: Buffer) => this.push(data));
        inflater.on('error', (error) => this.destroy(error));
      }
      inflater.write(chunk, () => done());
    },
    flush(done) {
      if (inflater === undefined) return done();
      inflater.once('end', () => done());
      inflater.end();
    },
  });
}
