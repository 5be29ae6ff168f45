import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { assertDigestMatchesKey, digestNamedByKey } from '@cairn/protocol';

/**
 * A `putStream` body as the S3 provider reads it. Each chunk is copied as it comes: the producer
 * may reuse its buffer once the next chunk is asked for, while a part is still being gathered. A
 * content-addressed key's digest is checked when the body ends, before its last chunk is handed
 * on, so a mismatch fails the upload before anything is published. An error the producer throws
 * is kept apart (`producerError`), so that `putStream` rejects with it as the contract asks, not
 * with the S3 failure its abort may cause.
 */
export class S3StreamBody {
  readonly #iterator: AsyncIterator<Uint8Array>;
  readonly #key: string;
  readonly #operation: string;
  readonly #hash: Hash | undefined;
  #bytesRead = 0;
  #crc32 = 0;
  #ended = false;
  #producerError: { readonly error: unknown } | undefined;

  constructor(key: string, body: AsyncIterable<Uint8Array>, operation: string) {
    this.#iterator = body[Symbol.asyncIterator]();
    this.#key = key;
    this.#operation = operation;
    this.#hash = digestNamedByKey(key) === undefined ? undefined : createHash('sha256');
  }

  /** Bytes read from the producer so far (all of them once the body ended). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /**
   * The CRC32 of the bytes read, as S3's `ChecksumCRC32` writes it (big-endian, base64). Given with
   * a streamed PutObject, it lets the SDK send the body as it is with its length instead of
   * aws-chunked with a trailing checksum, which radosgw refuses (411), and AWS checks it.
   */
  get checksumCrc32(): string {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(this.#crc32);
    return bytes.toString('base64');
  }

  /** What the producer threw, if it did. */
  get producerError(): { readonly error: unknown } | undefined {
    return this.#producerError;
  }

  /**
   * The body's first bytes: all of it when it ends within `limit` bytes (`ended`), else at least
   * `limit + 1` of them, the rest still to come from `rest`.
   */
  async readHead(limit: number): Promise<{ readonly head: Uint8Array; readonly ended: boolean }> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    while (size <= limit) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      chunks.push(chunk);
      size += chunk.byteLength;
    }
    return { head: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), ended: this.#ended };
  }

  /** `head` and then the rest of the body, each chunk a copy. */
  async *rest(head: Uint8Array): AsyncGenerator<Uint8Array> {
    yield head;
    for (let chunk = await this.#next(); chunk !== undefined; chunk = await this.#next()) yield chunk;
  }

  /** Reads the body to its end (checking its digest) without keeping it. */
  async drain(): Promise<void> {
    while ((await this.#next()) !== undefined);
  }

  async #next(): Promise<Uint8Array | undefined> {
    if (this.#ended) return undefined;
    let result: IteratorResult<Uint8Array>;
    try {
      result = await this.#iterator.next();
    } catch (error) {
      this.#producerError = { error };
      throw error;
    }
    if (result.done === true) {
      this.#ended = true;
      if (this.#hash) assertDigestMatchesKey(this.#key, `sha256:${this.#hash.digest('hex')}`, this.#operation, 's3');
      return undefined;
    }
    const chunk = Buffer.from(result.value);
    this.#bytesRead += chunk.byteLength;
    this.#hash?.update(chunk);
    this.#crc32 = crc32(chunk, this.#crc32);
    return chunk;
  }
}
