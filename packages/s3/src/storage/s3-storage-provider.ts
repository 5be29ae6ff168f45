import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StorageListOptions, StorageListPage, StorageObjectMetadata, StoragePutOptions, StoragePutResult, StorageProviderV1 } from '@cairn/core';
import {
  assertContentMatchesKey,
  assertDigestMatchesKey,
  CairnError,
  compareStorageKeys,
  digestNamedByKey,
  isCairnError,
  isStorageKey,
  parseSettings,
  storageKeySegments,
} from '@cairn/protocol';
import { z } from 'zod';
import { describeS3Location, prefixedKey, s3ClientFor, s3LocationSettingsShape } from '../client/s3-connection.ts';
import { s3Failure } from '../client/s3-errors.ts';
import { isRetryableS3Error, s3RetryPolicy, withS3Retries } from '../client/s3-retries.ts';
import { checkEchoedEncryption, encryptionParameters, s3EncryptionSchema } from './s3-encryption.ts';
import { decodeS3ListCursor, encodeS3ListCursor } from './s3-list-cursor.ts';
import { S3StreamBody } from './s3-stream-body.ts';

const mebibyte = 1024 * 1024;
/** S3's smallest part (all but the last) and its largest single PUT. */
const minimumPartBytes = 5 * mebibyte;
const maximumSinglePutBytes = 5 * 1024 * mebibyte;
const maximumParts = 10_000;
const maximumS3KeyBytes = 1024;
const maximumListLimit = 1000;

/** Settings of `createS3StorageProvider`, checked at construction; errors name `s3.storage.<option>`. */
export const s3StorageProviderSettingsSchema = z
  .strictObject({
    ...s3LocationSettingsShape,
    /**
     * How long an operation that keeps failing transiently (5xx, throttling, resets, refused
     * connections, timeouts) is retried, past `maxAttempts`, before it fails: milliseconds from its
     * first attempt. An S3 outage shorter than this (a gateway restart, a failover) is waited out,
     * so the run, the item or the task that needed storage does not fail for it. 0: only
     * `maxAttempts` bounds the retries.
     */
    outageBudgetMs: z.int().min(0).max(3_600_000).default(60_000),
    /** Encryption at rest; unset: no header, the bucket's default applies (never downgraded). */
    encryption: s3EncryptionSchema.optional(),
    /** A plain put of at least this many bytes is uploaded in parts (parallel, each retried alone). */
    multipartThresholdBytes: z
      .int()
      .min(minimumPartBytes)
      .max(maximumSinglePutBytes)
      .default(16 * mebibyte),
    /** The size of each part but the last (S3 allows 5 MiB to 5 GiB). */
    multipartPartBytes: z
      .int()
      .min(minimumPartBytes)
      .max(maximumSinglePutBytes)
      .default(8 * mebibyte),
    /** Parts of one object uploaded at once. */
    multipartConcurrency: z.int().min(1).max(32).default(4),
    /**
     * The longest S3 key the server takes, in UTF-8 bytes: 1024 on AWS. A key that would be longer
     * with the prefix is stored under its SHA-256 (see the class), so every key of up to 1024 bytes
     * works. radosgw's limit depends on its OSD back end (about 400 bytes with memstore).
     */
    maximumObjectKeyBytes: z.int().min(128).max(maximumS3KeyBytes).default(maximumS3KeyBytes),
  })
  .refine((settings) => settings.multipartPartBytes <= settings.multipartThresholdBytes, {
    path: ['multipartPartBytes'],
    message: 'must not be larger than multipartThresholdBytes',
  })
  .refine((settings) => Buffer.byteLength(longKeyObject(settings.prefix, '0'.repeat(64)), 'utf8') <= settings.maximumObjectKeyBytes, {
    path: ['prefix'],
    message: 'is too long: a prefix leaves no room for keys within maximumObjectKeyBytes; shorten it',
  });

export type S3StorageProviderSettings = z.input<typeof s3StorageProviderSettingsSchema>;
type ParsedSettings = z.output<typeof s3StorageProviderSettingsSchema>;

/** What the start-up probe found (`probe()`). */
export interface S3StorageProbe {
  /** `s3://bucket/prefix/ at endpoint`. */
  readonly location: string;
  /** A second `If-None-Match: *` put of the probe key answered 412: if-absent puts are atomic here. */
  readonly ifAbsentEnforced: true;
  /** The encryption asked for on every write (`bucket-default`: no header sent). */
  readonly encryption: 'sse-s3' | 'sse-kms' | 'bucket-default';
  /** What the probe write's answer echoed (`ServerSideEncryption`), when the endpoint echoes it. */
  readonly encryptionEchoed: string | undefined;
}

/** The metadata a put writes its own random id under, so a retried write can tell its own object. */
const writeIdMetadata = 'cairn-write-id';
/** The metadata a long key's object holds its key in (base64url: metadata is ASCII). */
const longKeyMetadata = 'cairn-key';
/**
 * The provider's own objects live under `<prefix>.cairn\`: a backslash is in no storage key, so
 * no key ever names them and listing never shows them.
 */
const ownFolder = '.cairn\\';

/** Where a key too long for the server is kept: under its SHA-256. */
function longKeyObject(prefix: string, hex: string): string {
  return `${prefix}${ownFolder}long-keys/${hex}`;
}

/**
 * StorageProviderV1 over an S3 bucket and prefix: the object `a/b` is the S3 key `<prefix>a/b`.
 *
 * - Before its first operation the provider probes the endpoint (`probe()`): it writes a key
 *   under `<prefix>.cairn/probe/` twice with `If-None-Match: *` and requires the second to answer
 *   412. An endpoint that answers 200 (an emulator without conditional writes, a versioned bucket
 *   on radosgw, an old MinIO) is refused with CAIRN_STORAGE_UNSUPPORTED naming it: the provider
 *   never degrades to last-writer-wins. A refusal fails every operation; a probe that could not
 *   reach S3 is tried again by the next operation.
 * - An if-absent put is ONE `PutObject` with `If-None-Match: *`, whatever its size (S3 takes up to
 *   5 GiB in one PUT). It is not uploaded in parts because `CompleteMultipartUpload` does not honour
 *   `If-None-Match` everywhere (radosgw ignores it; AWS only added it in 2024), and no claim object
 *   can make a multipart upload exclusive without a conditional overwrite or delete, which S3
 *   servers lack too. One conditional PUT is atomic on every server that passes the probe, so of
 *   any number of racing if-absent puts exactly one is written. A plain put of
 *   `multipartThresholdBytes` or more is uploaded in parts. `putStream` keeps to this: a long
 *   if-absent stream is uploaded in parts under the provider's own folder, then published by one
 *   conditional PUT streamed from that staged copy (see `putStream`).
 * - Every write carries a random id in its metadata: when a retried conditional PUT answers 412
 *   (its first attempt may have been written before the connection was lost), the provider reads
 *   the id back and reports `written: true` only if the object is its own.
 * - Every request goes through `withS3Retries` (5xx, throttling, resets, timeouts, 409
 *   ConditionalRequestConflict): `maxAttempts` attempts, and retries past them for up to
 *   `outageBudgetMs` from the first, so callers ride out an S3 outage shorter than that; what
 *   still fails is a CairnError with the SDK error as `cause`.
 * - `get` reads the whole body inside the retried operation; `getStream` resumes a body cut
 *   mid-way with a ranged GET pinned by `If-Match` to the same ETag, and fails rather than ever
 *   ending early. Content-addressed keys are checked against their digest on put and on read,
 *   before the last chunk of a stream is yielded.
 * - Listing relies on ListObjectsV2's order, ascending by UTF-8 bytes (AWS documents it; radosgw
 *   does it too). Keys under the prefix that are not valid storage keys are left out.
 * - A key whose S3 key (with the prefix) would be longer than `maximumObjectKeyBytes` is stored
 *   as `<prefix>.cairn\long-keys/<sha256 of the key>` with the key in its metadata; listing reads
 *   those back and merges them in order. Cairn's own keys are short: this costs one extra (empty)
 *   listing request per `list`.
 */
export class S3StorageProvider implements StorageProviderV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 's3';
  readonly capabilities = { ifAbsent: true, stream: true, putStream: true } as const;
  readonly settings: ParsedSettings;
  readonly client: S3Client;
  readonly location: string;
  #probe: Promise<S3StorageProbe> | undefined;

  constructor(settings: S3StorageProviderSettings) {
    this.settings = parseSettings(s3StorageProviderSettingsSchema, settings, 's3.storage');
    this.client = s3ClientFor(this.settings);
    this.location = describeS3Location(this.settings);
  }

  /**
   * Checks once that the endpoint enforces `If-None-Match: *` (and applies the configured
   * encryption); every operation awaits it. Resolves with what it found; a refusal
   * (CAIRN_STORAGE_UNSUPPORTED) is kept and fails every later call, an unreachable endpoint
   * (CAIRN_STORAGE_UNAVAILABLE) is probed again next time.
   */
  probe(): Promise<S3StorageProbe> {
    this.#probe ??= this.#runProbe().catch((error: unknown) => {
      if (!isCairnError(error, 'CAIRN_STORAGE_UNSUPPORTED')) this.#probe = undefined;
      throw error;
    });
    return this.#probe;
  }

  /**
   * Whether S3 answers now: ONE `HeadObject` of a fixed key under the provider's own folder, not
   * retried, given up after `timeoutMs`. Resolves when S3 answers the request (the key is never
   * there: 404 is an answer, and so is the 403 AWS gives for a missing key to an identity whose
   * s3:ListBucket is scoped); throws CAIRN_STORAGE_UNAVAILABLE saying what failed when the failure
   * is one the operations would retry (a refused or cut connection, a timeout, a 5xx, throttling).
   * For readiness checks, which must say at once what the operations, waiting an outage out, would
   * only say at its end.
   */
  async checkReachable(options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? Math.min(this.settings.requestTimeoutMs, 5_000);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: `${this.settings.prefix}${ownFolder}reachable` }), {
        abortSignal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      if (!isRetryableS3Error(error)) return;
      throw s3Failure(error, '[cairn] [s3] checking that S3 answers', this.location, 'CAIRN_STORAGE_UNAVAILABLE');
    }
  }

  async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const objectKey = this.#objectKey(key);
    // Our own copy: the caller may reuse its buffer while the upload is under way.
    const bytes = Uint8Array.from(body);
    assertContentMatchesKey(key, bytes, `put("${key}")`, 's3');
    await this.probe();
    return this.#putBytes(key, objectKey, bytes, options, `put("${key}")`);
  }

  /**
   * Writes the object from `body`'s chunks without holding it whole. A body that ends within
   * `multipartThresholdBytes` is written as `put` writes it. A longer one is a multipart upload
   * (`@aws-sdk/lib-storage`'s `Upload`: `multipartPartBytes` a part, `multipartConcurrency` at
   * once, each request retried as every other), published by its completion, aborted when the
   * body, its digest or S3 fails. An if-absent one is uploaded so under the provider's own
   * folder and then published with ONE `PutObject` with `If-None-Match: *` streamed from it (see
   * the class: a completion is not exclusive everywhere), and the staged copy deleted; a key that
   * is there already is answered `{ written: false }` once the body is read (and its digest
   * checked), without uploading it. At most about `multipartThresholdBytes` plus
   * `multipartConcurrency` parts are in memory at once.
   */
  async putStream(key: string, body: AsyncIterable<Uint8Array>, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const objectKey = this.#objectKey(key);
    await this.probe();
    const operation = `putStream("${key}")`;
    const stream = new S3StreamBody(key, body, `${operation} to ${this.location}`);
    const { head, ended } = await stream.readHead(this.settings.multipartThresholdBytes);
    if (ended) return this.#putBytes(key, objectKey, head, options, operation);
    if (options.ifAbsent !== true) {
      await this.#upload(key, objectKey, stream, head, options.contentType, operation);
      return { written: true };
    }
    if ((await this.#head(objectKey, operation)) !== null) {
      await stream.drain();
      return { written: false };
    }
    const stagedKey = `${this.settings.prefix}${ownFolder}uploads/${randomUUID()}`;
    try {
      await this.#upload(key, stagedKey, stream, head, options.contentType, `${operation}: staging it`);
      if (stream.bytesRead > maximumSinglePutBytes) throw tooLargeIfAbsent(operation, this.location, stream.bytesRead);
      const staged = { length: stream.bytesRead, checksumCrc32: stream.checksumCrc32 };
      return await this.#putConditionally(key, objectKey, () => this.#stagedBody(stagedKey, operation), staged, options.contentType, operation);
    } finally {
      // Best effort: a staged copy left behind is never listed (see ownFolder).
      await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: stagedKey })).catch(() => undefined);
    }
  }

  /** `put` once the key, the content and the probe are checked. */
  async #putBytes(key: string, objectKey: string, bytes: Uint8Array, options: StoragePutOptions, operation: string): Promise<StoragePutResult> {
    if (options.ifAbsent === true) {
      if (bytes.byteLength > maximumSinglePutBytes) throw tooLargeIfAbsent(operation, this.location, bytes.byteLength);
      return this.#putConditionally(key, objectKey, async () => bytes, { length: bytes.byteLength }, options.contentType, operation);
    }
    if (bytes.byteLength >= this.settings.multipartThresholdBytes) {
      await this.#putInParts(key, objectKey, bytes, options.contentType, operation);
      return { written: true };
    }
    const writeId = randomUUID();
    await this.#send(operation, async () => {
      const response = await this.client.send(new PutObjectCommand(this.#putParameters(key, objectKey, bytes, options.contentType, writeId)));
      checkEchoedEncryption(this.settings.encryption, response, operation, this.location);
    });
    return { written: true };
  }

  async get(key: string): Promise<Uint8Array | null> {
    const objectKey = this.#objectKey(key);
    await this.probe();
    const operation = `get("${key}")`;
    const bytes = await this.#send(operation, async () => {
      const response = await this.#getObject(objectKey);
      if (response === null) return null;
      // Read inside the retried operation: a body cut mid-way is fetched again whole.
      const read = await (response.Body as Readable & { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
      if (response.ContentLength !== undefined && read.byteLength !== response.ContentLength) throw truncatedBody(read.byteLength, response.ContentLength);
      return read;
    });
    if (bytes === null) return null;
    assertContentMatchesKey(key, bytes, `${operation} from ${this.location}`, 's3');
    return bytes;
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const objectKey = this.#objectKey(key);
    await this.probe();
    const operation = `getStream("${key}")`;
    const response = await this.#send(operation, () => this.#getObject(objectKey));
    if (response === null) return null;
    return this.#chunks(key, objectKey, response, operation);
  }

  async head(key: string): Promise<StorageObjectMetadata | null> {
    const objectKey = this.#objectKey(key);
    await this.probe();
    const response = await this.#head(objectKey, `head("${key}")`);
    if (response === null) return null;
    return { key, size: response.ContentLength ?? 0, ...(response.ContentType === undefined ? {} : { contentType: response.ContentType }) };
  }

  async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const prefix = options.prefix ?? '';
    const limit = options.limit ?? maximumListLimit;
    if (typeof prefix !== 'string') throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [s3] list prefix must be a string, got ${typeof prefix}.`);
    if (!Number.isInteger(limit) || limit < 1 || limit > maximumListLimit)
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [s3] list limit must be a whole number from 1 to ${maximumListLimit}, got ${limit}.`, {
        path: 'limit',
      });
    const after = options.cursor === undefined ? undefined : decodeS3ListCursor(options.cursor, prefix);
    await this.probe();
    const keys: string[] = [];
    // Listed from just after the cursor's key; one key more than the page says whether another follows.
    let startAfter = after === undefined ? undefined : prefixedKey(this.settings, after);
    for (;;) {
      const response = await this.#send(`list(${JSON.stringify(prefix)})`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: prefixedKey(this.settings, prefix),
            MaxKeys: Math.min(maximumListLimit, limit + 1 - keys.length),
            ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
          }),
        ),
      );
      const contents = response.Contents ?? [];
      for (const object of contents) {
        const key = object.Key?.slice(this.settings.prefix.length);
        // Written behind Cairn's back under a name no key maps to (`a//b`, a control character): not an object it can name.
        if (key !== undefined && object.Key!.startsWith(this.settings.prefix) && isStorageKey(key)) keys.push(key);
      }
      const last = contents.at(-1)?.Key;
      if (keys.length > limit || response.IsTruncated !== true || last === undefined) break;
      startAfter = last;
    }
    // Long keys in range, merged in: the first limit + 1 of the merge are right, as the direct
    // listing holds limit + 1 keys or all there are.
    const longKeys = await this.#longKeys(prefix, after);
    const merged = longKeys.length === 0 ? keys : [...keys, ...longKeys].sort(compareStorageKeys);
    const page = merged.slice(0, limit);
    return { keys: page, cursor: merged.length > limit ? encodeS3ListCursor(prefix, page.at(-1)!) : null };
  }

  /** The long keys (see the class) starting with `prefix` and after `after`, in byte order. */
  async #longKeys(prefix: string, after: string | undefined): Promise<string[]> {
    const folder = `${this.settings.prefix}${ownFolder}long-keys/`;
    const keys: string[] = [];
    let continuation: string | undefined;
    do {
      const response = await this.#send(`list(${JSON.stringify(prefix)}): long keys`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: folder,
            ...(continuation === undefined ? {} : { ContinuationToken: continuation }),
          }),
        ),
      );
      for (const object of response.Contents ?? []) {
        const head = await this.#send(`list(${JSON.stringify(prefix)}): reading a long key`, async () => {
          try {
            return await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: object.Key! }));
          } catch (error) {
            if (isNotFound(error)) return null; // deleted since the listing
            throw error;
          }
        });
        const encoded = head?.Metadata?.[longKeyMetadata];
        const key = encoded === undefined ? undefined : Buffer.from(encoded, 'base64url').toString('utf8');
        if (key !== undefined && isStorageKey(key) && key.startsWith(prefix) && (after === undefined || compareStorageKeys(key, after) > 0)) keys.push(key);
      }
      continuation = response.IsTruncated === true ? response.NextContinuationToken : undefined;
    } while (continuation !== undefined);
    return keys.sort(compareStorageKeys);
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.#objectKey(key);
    await this.probe();
    // S3 answers 204 for a key that is not there: delete is idempotent as the contract asks.
    await this.#send(`delete("${key}")`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: objectKey })));
  }

  /** Runs one S3 operation with retries; a failure that is not already a CairnError is mapped to CAIRN_STORAGE_UNAVAILABLE. */
  async #send<T>(operation: string, attempt: (attempt: number) => Promise<T>): Promise<T> {
    try {
      return await withS3Retries(attempt, s3RetryPolicy(this.settings));
    } catch (error) {
      if (isCairnError(error)) throw error;
      throw s3Failure(error, `[cairn] [s3] ${operation}`, this.location, 'CAIRN_STORAGE_UNAVAILABLE');
    }
  }

  /** The S3 key of a storage key (a long one's hashed place); CAIRN_STORAGE_KEY_INVALID before any I/O when it breaks a rule. */
  #objectKey(key: string): string {
    storageKeySegments(key, 's3');
    const objectKey = prefixedKey(this.settings, key);
    if (Buffer.byteLength(objectKey, 'utf8') <= this.settings.maximumObjectKeyBytes) return objectKey;
    return longKeyObject(this.settings.prefix, createHash('sha256').update(key, 'utf8').digest('hex'));
  }

  #putParameters(key: string, objectKey: string, bytes: Uint8Array, contentType: string | undefined, writeId: string) {
    return {
      Bucket: this.settings.bucket,
      Key: objectKey,
      Body: bytes,
      ContentLength: bytes.byteLength,
      Metadata: {
        [writeIdMetadata]: writeId,
        ...(objectKey.startsWith(`${this.settings.prefix}${ownFolder}long-keys/`) ? { [longKeyMetadata]: Buffer.from(key, 'utf8').toString('base64url') } : {}),
      },
      ...(contentType === undefined ? {} : { ContentType: contentType }),
      ...encryptionParameters(this.settings.encryption),
    };
  }

  /**
   * One `PutObject` with `If-None-Match: *`. 412 means another writer's object is there. After a
   * retry the 412 may answer our own first attempt, written before its reply was lost: the write
   * id in the object's metadata tells which.
   */
  async #putConditionally(
    key: string,
    objectKey: string,
    bodyOf: () => Promise<Uint8Array | Readable>,
    size: { readonly length: number; readonly checksumCrc32?: string },
    contentType: string | undefined,
    operation: string,
  ): Promise<StoragePutResult> {
    const writeId = randomUUID();
    let retried = false;
    try {
      await withS3Retries(async (attempt) => {
        retried = attempt > 1;
        // A body per attempt: a stream read by a failed attempt cannot be sent again.
        const body = await bodyOf();
        try {
          const response = await this.client.send(
            new PutObjectCommand({
              ...this.#putParameters(key, objectKey, new Uint8Array(0), contentType, writeId),
              Body: body,
              ContentLength: size.length,
              IfNoneMatch: '*',
              ...(size.checksumCrc32 === undefined ? {} : { ChecksumCRC32: size.checksumCrc32 }),
            }),
          );
          checkEchoedEncryption(this.settings.encryption, response, operation, this.location);
        } finally {
          if (body instanceof Readable) body.destroy();
        }
      }, s3RetryPolicy(this.settings));
      return { written: true };
    } catch (error) {
      if (isCairnError(error)) throw error;
      if (statusOf(error) !== 412) throw s3Failure(error, `[cairn] [s3] ${operation}`, this.location, 'CAIRN_STORAGE_UNAVAILABLE');
      return { written: retried && (await this.#writtenBy(objectKey, writeId, operation)) };
    }
  }

  /** Whether the object under `objectKey` is the one the write `writeId` stored. */
  async #writtenBy(objectKey: string, writeId: string, operation: string): Promise<boolean> {
    const response = await this.#head(objectKey, `${operation}: reading back who wrote it`);
    return response?.Metadata?.[writeIdMetadata] === writeId;
  }

  /** HeadObject with retries, or null for a missing key. */
  #head(objectKey: string, operation: string) {
    return this.#send(operation, async () => {
      try {
        return await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: objectKey }));
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    });
  }

  /**
   * Uploads `head` and the rest of `stream` in parts to `objectKey` with lib-storage's `Upload`,
   * each request retried as the provider retries any. Whatever fails — the producer, the digest,
   * S3 — the multipart upload is aborted (by `Upload`, and again here should its abort have
   * failed), so no parts are left billed; the producer's own error is what is thrown for it. A
   * completion retried after a lost reply answers NoSuchUpload: the write id tells whether it was
   * completed.
   */
  async #upload(key: string, objectKey: string, stream: S3StreamBody, head: Uint8Array, contentType: string | undefined, operation: string): Promise<void> {
    const writeId = randomUUID();
    const { Body: _body, ContentLength: _length, ...parameters } = this.#putParameters(key, objectKey, head, contentType, writeId);
    const upload = new Upload({
      client: this.#retryingClient(),
      params: { ...parameters, Body: Readable.from(stream.rest(head), { objectMode: false }) },
      // 10,000 parts of this size bound the object (80 GB with the default 8 MiB).
      partSize: this.settings.multipartPartBytes,
      queueSize: this.settings.multipartConcurrency,
    });
    try {
      const completed = await upload.done();
      checkEchoedEncryption(this.settings.encryption, completed, operation, this.location);
    } catch (error) {
      const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
      if (uploadId !== undefined && (error as { name?: string }).name !== 'NoSuchUpload')
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: objectKey, UploadId: uploadId })).catch(() => undefined);
      if (stream.producerError !== undefined) throw stream.producerError.error;
      if (isCairnError(error)) throw error;
      if ((error as { name?: string }).name === 'NoSuchUpload' && (await this.#writtenBy(objectKey, writeId, operation))) return;
      throw s3Failure(error, `[cairn] [s3] ${operation}: uploading it in parts`, this.location, 'CAIRN_STORAGE_UNAVAILABLE');
    }
  }

  /** The client for `Upload`: its requests retried as the provider's own (the SDK's retries are off). */
  #retryingClient(): S3Client {
    const policy = s3RetryPolicy(this.settings);
    const client = this.client;
    return new Proxy(client, {
      get: (target, property) =>
        property === 'send'
          ? (command: Parameters<S3Client['send']>[0], options?: Parameters<S3Client['send']>[1]) =>
              withS3Retries(() => target.send(command as never, options as never) as Promise<unknown>, policy)
          : Reflect.get(target, property),
    });
  }

  /** A staged object's body and length, for publishing it with one PutObject. */
  async #stagedBody(stagedKey: string, operation: string): Promise<Readable> {
    const staged = await this.#getObject(stagedKey);
    if (staged === null)
      throw new CairnError(
        'CAIRN_STORAGE_UNAVAILABLE',
        `[cairn] [s3] ${operation} at ${this.location}: the staged upload ${stagedKey} vanished before it was published. Put it again.`,
      );
    return staged.Body as Readable;
  }

  /**
   * A plain put in parts: each part retried on its own, `multipartConcurrency` at once. A
   * completion retried after a lost reply answers NoSuchUpload: the write id tells whether it was
   * completed. A failed upload is aborted so its parts are not billed forever.
   */
  async #putInParts(key: string, objectKey: string, bytes: Uint8Array, contentType: string | undefined, operation: string): Promise<void> {
    const writeId = randomUUID();
    const { Body: _body, ContentLength: _length, ...createParameters } = this.#putParameters(key, objectKey, bytes, contentType, writeId);
    const created = await this.#send(`${operation}: starting a multipart upload`, () => this.client.send(new CreateMultipartUploadCommand(createParameters)));
    checkEchoedEncryption(this.settings.encryption, created, operation, this.location);
    const uploadId = created.UploadId!;
    const partBytes = Math.max(this.settings.multipartPartBytes, Math.ceil(bytes.byteLength / maximumParts));
    const partCount = Math.ceil(bytes.byteLength / partBytes);
    const etags: string[] = new Array<string>(partCount);
    try {
      let next = 0;
      const uploadWorker = async () => {
        while (next < partCount) {
          const index = next++;
          const part = bytes.subarray(index * partBytes, Math.min(bytes.byteLength, (index + 1) * partBytes));
          const response = await this.#send(`${operation}: uploading part ${index + 1} of ${partCount}`, () =>
            this.client.send(
              new UploadPartCommand({
                Bucket: this.settings.bucket,
                Key: objectKey,
                UploadId: uploadId,
                PartNumber: index + 1,
                Body: part,
                ContentLength: part.byteLength,
              }),
            ),
          );
          etags[index] = response.ETag!;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.settings.multipartConcurrency, partCount) }, uploadWorker));
      let retried = false;
      try {
        await withS3Retries(async (attempt) => {
          retried = attempt > 1;
          await this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket: this.settings.bucket,
              Key: objectKey,
              UploadId: uploadId,
              MultipartUpload: { Parts: etags.map((ETag, index) => ({ ETag, PartNumber: index + 1 })) },
            }),
          );
        }, s3RetryPolicy(this.settings));
      } catch (error) {
        if (retried && (error as { name?: string }).name === 'NoSuchUpload' && (await this.#writtenBy(objectKey, writeId, operation))) return;
        throw s3Failure(error, `[cairn] [s3] ${operation}: completing the multipart upload`, this.location, 'CAIRN_STORAGE_UNAVAILABLE');
      }
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: objectKey, UploadId: uploadId })).catch(() => undefined);
      throw error;
    }
  }

  /** GetObject, or null for a missing key; `range` resumes at a byte offset of the object with the ETag `ifMatch`. */
  async #getObject(objectKey: string, resume?: { readonly offset: number; readonly etag: string }): Promise<GetObjectCommandOutput | null> {
    try {
      return await this.client.send(
        new GetObjectCommand({
          Bucket: this.settings.bucket,
          Key: objectKey,
          ...(resume === undefined ? {} : { Range: `bytes=${resume.offset}-`, IfMatch: resume.etag }),
        }),
      );
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /**
   * The body in chunks, hashing as it goes for a content-addressed key. Each chunk is yielded
   * once the next has arrived, so a digest mismatch is raised before the last chunk. A body cut
   * mid-way is resumed from where it stopped, pinned to the same ETag (a replaced object answers
   * 412 and fails the stream: never a mix of two objects); the stream never ends short of the
   * object's length. The body is destroyed however the reader stops.
   */
  async *#chunks(key: string, objectKey: string, first: GetObjectCommandOutput, operation: string): AsyncGenerator<Uint8Array> {
    const hash = digestNamedByKey(key) === undefined ? undefined : createHash('sha256');
    const total = first.ContentLength;
    const etag = first.ETag;
    let body = first.Body as Readable;
    let offset = 0;
    let resumes = 0;
    let held: Uint8Array | undefined;
    try {
      for (;;) {
        try {
          for await (const chunk of body) {
            const bytes = chunk as Uint8Array;
            offset += bytes.byteLength;
            hash?.update(bytes);
            if (held !== undefined) yield held;
            held = bytes;
          }
          if (total !== undefined && offset < total) throw truncatedBody(offset, total);
          break;
        } catch (error) {
          body.destroy();
          if (isCairnError(error) || etag === undefined || total === undefined || !isRetryableS3Error(error) || ++resumes >= this.settings.maxAttempts)
            throw isCairnError(error) ? error : s3Failure(error, `[cairn] [s3] ${operation}: reading the body`, this.location, 'CAIRN_STORAGE_UNAVAILABLE');
          const resumed = await this.#send(`${operation}: resuming at byte ${offset}`, async () => {
            try {
              return await this.#getObject(objectKey, { offset, etag });
            } catch (resumeError) {
              if (statusOf(resumeError) === 412) throw replacedWhileRead(operation, this.location, resumeError);
              throw resumeError;
            }
          });
          if (resumed === null) throw replacedWhileRead(operation, this.location, undefined);
          body = resumed.Body as Readable;
        }
      }
      if (hash) assertDigestMatchesKey(key, `sha256:${hash.digest('hex')}`, `${operation} from ${this.location}`, 's3');
      if (held !== undefined) yield held;
    } finally {
      body.destroy();
    }
  }

  async #runProbe(): Promise<S3StorageProbe> {
    const objectKey = `${this.settings.prefix}${ownFolder}probe/${randomUUID()}`;
    const probeBody = new TextEncoder().encode('cairn: probing that this endpoint enforces If-None-Match: *\n');
    const operation = 'probe (conditional writes)';
    let echoed: string | undefined;
    try {
      const writeId = randomUUID();
      await this.#send(`${operation}: first put`, async () => {
        try {
          const response = await this.client.send(
            new PutObjectCommand({ ...this.#putParameters(objectKey, objectKey, probeBody, 'text/plain', writeId), IfNoneMatch: '*' }),
          );
          checkEchoedEncryption(this.settings.encryption, response, operation, this.location);
          echoed = response.ServerSideEncryption;
        } catch (error) {
          // A first attempt written before its reply was lost: the retry meets our own object.
          if (statusOf(error) === 412) return;
          throw error;
        }
      });
      const second = await this.#send(`${operation}: second put`, async () => {
        try {
          await this.client.send(
            new PutObjectCommand({ ...this.#putParameters(objectKey, objectKey, probeBody, 'text/plain', randomUUID()), IfNoneMatch: '*' }),
          );
          return 'written';
        } catch (error) {
          if (statusOf(error) === 412) return 'refused';
          throw error;
        }
      });
      if (second === 'written') throw await this.#conditionalWritesIgnored();
    } finally {
      // Best effort: a probe object left behind is never listed (see ownFolder).
      await withS3Retries(() => this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: objectKey })), {
        maxAttempts: this.settings.maxAttempts,
      }).catch(() => undefined);
    }
    return {
      location: this.location,
      ifAbsentEnforced: true,
      encryption: this.settings.encryption?.kind ?? 'bucket-default',
      encryptionEchoed: echoed,
    };
  }

  /** The refusal of an endpoint that overwrote on a second `If-None-Match: *` put, with what is likely the cause. */
  async #conditionalWritesIgnored(): Promise<CairnError> {
    const versioning = await this.client
      .send(new GetBucketVersioningCommand({ Bucket: this.settings.bucket }))
      .then((response) => response.Status)
      .catch(() => undefined);
    const versioned =
      versioning === 'Enabled' || versioning === 'Suspended'
        ? ` The bucket is versioned (versioning ${versioning}): radosgw (Ceph) adds a version instead of refusing such a put, so Cairn's storage needs an unversioned bucket there (on AWS a versioned bucket is fine).`
        : '';
    return new CairnError(
      'CAIRN_STORAGE_UNSUPPORTED',
      `[cairn] [s3] the endpoint does not enforce conditional writes at ${this.location}: a second put of one key with If-None-Match: * was accepted (200) instead of refused (412), so "exactly one writer wins" cannot hold and Cairn refuses to use it rather than let the last writer win.${versioned} ` +
        'Likely causes: a versioned bucket on radosgw, an S3 emulator without conditional writes (s3rver, older LocalStack), or a MinIO older than 2024. Use an S3 server that enforces If-None-Match, or an unversioned bucket.',
      { path: 's3.storage.endpoint', details: { location: this.location, ...(versioning === undefined ? {} : { versioning }) } },
    );
  }
}

/** Builds an S3 storage provider; throws CAIRN_CONFIG_INVALID naming `s3.storage.<option>`. Nothing is sent before the first operation. */
export function createS3StorageProvider(settings: S3StorageProviderSettings): S3StorageProvider {
  return new S3StorageProvider(settings);
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(error) === 404 && name !== 'NoSuchBucket');
}

/** A body that ended before its Content-Length: retryable like the reset that usually causes it. */
function truncatedBody(received: number, expected: number): Error {
  return Object.assign(new Error(`premature close: the body ended after ${received} of ${expected} bytes`), { code: 'ECONNRESET' });
}

function replacedWhileRead(operation: string, location: string, cause: unknown): CairnError {
  return new CairnError(
    'CAIRN_STORAGE_UNAVAILABLE',
    `[cairn] [s3] ${operation} at ${location}: the connection was cut mid-body and the object was replaced or deleted before it could be read on; the bytes received are not one object. Read it again.`,
    { cause },
  );
}

function tooLargeIfAbsent(operation: string, location: string, size: number): CairnError {
  return new CairnError(
    'CAIRN_STORAGE_UNSUPPORTED',
    `[cairn] [s3] ${operation} at ${location}: an if-absent put of ${size} bytes is larger than S3's single PUT (5 GiB), and a multipart upload cannot be made exclusive. Store it under a content-addressed key with a plain put, or split it.`,
  );
}
