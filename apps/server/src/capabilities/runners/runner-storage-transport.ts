import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { StoragePutOptions, StoragePutResult, StorageProviderV1 } from '@cairn/core';
import { CairnError, digestNamedByKey, storageKeySegments } from '@cairn/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bodyLimits } from '../../http/body-limits.ts';
import type { HttpApp } from '../../http/http-app.ts';
import type { RunnerStorageAccess, RunnerStorageOperation } from './runner-storage-access.ts';

/** Where a runner's storage is served: an object's key follows as a path (`/v1/runner/storage/results/run/item/1.json`). */
export const runnerStoragePath = '/v1/runner/storage';

/**
 * Largest body a runner may put under a key that is not a blob: a result record or a live log
 * segment (64 KiB). Far more than either needs; a blob may be as large as an upload.
 */
export const runnerRecordLimitBytes = 8 * 1024 * 1024;

/** Who decides what a runner may reach: `decide` for each request, `wrote` told of each blob stored, `wroteResult` of each result record. */
export interface RunnerStorageGate {
  /** `key` is an object's key, or for `list` the prefix. */
  decide(runnerName: string, key: string, operation: RunnerStorageOperation): Promise<RunnerStorageAccess> | RunnerStorageAccess;
  /** A blob the runner put went through (stored, or there already): it may read it back. */
  wrote?(runnerName: string, key: string): void;
  /** The result record of `executionId` the runner put was stored now, these very bytes (not told when an if-absent put found one already stored: it may hold other bytes). */
  wroteResult?(runnerName: string, executionId: string, bytes: Uint8Array): void;
}

/** A write or delete refused because the lease of its attempt lapsed: a runner still working on what it lost. */
export interface RunnerStorageRefusal {
  readonly runnerName: string;
  readonly executionId: string;
  readonly key: string;
  readonly operation: 'write' | 'delete';
  readonly reason: string;
}

export interface RunnerStorageTransportSettings {
  readonly storage: StorageProviderV1;
  /** The name of the runner the request's token belongs to; throws (CAIRN_UNAUTHENTICATED, CAIRN_FORBIDDEN) for any other request. */
  readonly authorize: (request: FastifyRequest) => Promise<string> | string;
  readonly gate: RunnerStorageGate;
  /** Told of each write or delete refused for a lapsed lease (audited as `runner.late-result`); its failure is logged, never answered. */
  readonly onRefused?: (refusal: RunnerStorageRefusal) => Promise<void> | void;
  /** Largest blob a runner may put (`server.uploadLimitMiB`). */
  readonly uploadLimitBytes?: number;
}

/**
 * The HTTP face of a runner's storage: `GET`, `HEAD`, `PUT` and `DELETE` of
 * `/v1/runner/storage/<key>`, and `GET /v1/runner/storage?prefix=&limit=&cursor=` to list.
 *
 * - The key is a path: each segment percent-encoded (`encodeURIComponent`), so a proxy sees an
 *   ordinary URL. An encoded slash (`%2F`) in a segment is refused, so a key has one spelling;
 *   after decoding the key is checked as every provider checks it (400 CAIRN_STORAGE_KEY_INVALID).
 * - Every route's action is `runner.run`: on the server, a token with `runners:run` is required
 *   before the route runs (401, 403). Then `authorize` names the runner (on the server, the
 *   token's actor: `request.actor.id`), and `gate` decides the request:
 *   a refusal is 403 CAIRN_FORBIDDEN naming the key and the reason, before a byte of a body is read.
 * - `GET` answers the bytes (application/octet-stream), streamed from storage for an immutable
 *   content-addressed key, read whole for others (a live log segment is rewritten in place, and
 *   its length must be the one announced); 404 CAIRN_NOT_FOUND for a missing key. `HEAD` answers
 *   its length. The stored content type is in `x-cairn-content-type`.
 * - `PUT` stores the body (application/octet-stream; `x-cairn-content-type` the object's type;
 *   `if-none-match: *` for an if-absent put) and answers `{ "written": boolean }`. The body goes to
 *   storage as it arrives when storage can take a stream; a content-addressed key's bytes are
 *   hashed on the way and refused (422 CAIRN_DIGEST_MISMATCH) before storage publishes them. A
 *   result record is written once: stored again with the same bytes, it answers written; with
 *   other bytes, 403.
 * - `DELETE` answers 204, for a missing key too.
 */
export function registerRunnerStorageTransport(app: HttpApp, settings: RunnerStorageTransportSettings): void {
  const { storage, gate } = settings;
  const uploadLimitBytes = settings.uploadLimitBytes ?? bodyLimits.upload;
  // The server's token check runs first (a runner's token, scope runners:run); `authorize` names the runner.
  const config = { action: 'runner.run' };

  async function admit(request: FastifyRequest, reply: FastifyReply, operation: RunnerStorageOperation) {
    const runnerName = await settings.authorize(request);
    const key = operation === 'list' ? prefixOf(request) : keyOf(request);
    const access = await gate.decide(runnerName, key, operation);
    if (access.allowed) return { runnerName, key, access };
    if (access.late && access.executionId !== undefined && (operation === 'write' || operation === 'delete')) {
      const refusal: RunnerStorageRefusal = { runnerName, executionId: access.executionId, key, operation, reason: access.reason };
      await Promise.resolve()
        .then(() => settings.onRefused?.(refusal))
        .catch((error: unknown) => request.log.error({ error: String(error), ...refusal }, 'a late write of a runner could not be reported'));
    }
    // The body of a refused put is never read: the connection cannot carry another request.
    if (request.method === 'PUT') void reply.header('connection', 'close');
    throw new CairnError('CAIRN_FORBIDDEN', `Runner ${JSON.stringify(runnerName)} may not ${verbs[operation]} ${JSON.stringify(key)}: ${access.reason}.`, {
      path: key,
      details: { key, operation, reason: access.reason, ...(access.executionId === undefined ? {} : { executionId: access.executionId }) },
      action:
        'A runner reaches the storage of the attempts it holds, while it holds them: check that it lists the attempt in its polls, and that its lease did not lapse.',
    });
  }

  void app.register(async (scope) => {
    // This scope's own octet-stream parser: the body reaches the route as the stream it is.
    if (scope.hasContentTypeParser('application/octet-stream')) scope.removeContentTypeParser('application/octet-stream');
    scope.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));

    // Before the GET, which would otherwise answer HEAD itself by reading the whole object.
    scope.head(
      `${runnerStoragePath}/*`,
      { config, schema: { operationId: 'runnerStorageHead', summary: "Whether a held attempt's object is stored, and its length" } },
      async (request, reply) => {
        const { key } = await admit(request, reply, 'read');
        const metadata = await storage.head(key);
        if (metadata === null) throw notFound(key);
        if (metadata.contentType !== undefined) void reply.header('x-cairn-content-type', metadata.contentType);
        return reply.header('content-length', metadata.size).send();
      },
    );

    scope.get(
      `${runnerStoragePath}/*`,
      {
        config,
        exposeHeadRoute: false,
        schema: {
          operationId: 'runnerStorageGet',
          summary: 'An object of an attempt the runner holds (its manifest, a blob it names, its result, its live log)',
        },
      },
      async (request, reply) => {
        const { key } = await admit(request, reply, 'read');
        void reply.type('application/octet-stream');
        if (digestNamedByKey(key) !== undefined && storage.capabilities.stream === true && storage.getStream !== undefined) {
          // The length first: once getStream has opened the object, nothing may fail before it is handed on.
          const metadata = await storage.head(key);
          if (metadata === null) throw notFound(key);
          const chunks = await storage.getStream(key);
          if (chunks === null) throw notFound(key);
          if (metadata.contentType !== undefined) void reply.header('x-cairn-content-type', metadata.contentType);
          // A chunk that fails its digest check ends the connection before the last byte: the client never sees the object whole.
          return reply.header('content-length', metadata.size).send(Readable.from(chunks, { objectMode: false }));
        }
        const bytes = await storage.get(key);
        if (bytes === null) throw notFound(key);
        return reply.send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
    );

    scope.put(
      `${runnerStoragePath}/*`,
      { config, schema: { operationId: 'runnerStoragePut', summary: 'Stores an object of an attempt the runner holds; answers whether it was written' } },
      async (request, reply) => {
        const { runnerName, key, access } = await admit(request, reply, 'write');
        const body = request.body;
        if (!(body instanceof Readable)) {
          throw new CairnError('CAIRN_PAYLOAD_INVALID', `Send the bytes of ${JSON.stringify(key)} as application/octet-stream.`, {
            path: 'headers.content-type',
          });
        }
        try {
          const options = putOptionsOf(request);
          const limitBytes = access.allowed && access.rule === 'blob-write' ? uploadLimitBytes : runnerRecordLimitBytes;
          const contentLength = request.headers['content-length'];
          if (contentLength !== undefined && Number(contentLength) > limitBytes) throw tooLarge(key, limitBytes);
          const chunks = checkedBody(body, key, limitBytes);
          let result: StoragePutResult;
          if (access.allowed && access.rule === 'result-write') {
            const bytes = await gathered(chunks);
            result = await writeOnce(storage, key, bytes, options);
            // Not when an if-absent put found a record stored: that one may hold other bytes.
            if (result.written && access.executionId !== undefined) gate.wroteResult?.(runnerName, access.executionId, bytes);
          } else if (storage.capabilities.putStream === true && storage.putStream !== undefined) result = await storage.putStream(key, chunks, options);
          else result = await storage.put(key, await gathered(chunks), options);
          if (access.allowed && access.rule === 'blob-write') gate.wrote?.(runnerName, key);
          return await reply.send({ written: result.written });
        } catch (error) {
          if (!body.readableEnded) void reply.header('connection', 'close');
          throw error;
        }
      },
    );

    scope.delete(
      `${runnerStoragePath}/*`,
      {
        config,
        schema: { operationId: 'runnerStorageDelete', summary: 'Deletes a live log object of an attempt the runner holds; 204 for a missing one too' },
      },
      async (request, reply) => {
        const { key } = await admit(request, reply, 'delete');
        await storage.delete(key);
        return reply.status(204).send();
      },
    );

    scope.get(
      runnerStoragePath,
      {
        config,
        schema: { operationId: 'runnerStorageList', summary: 'Keys under a prefix of an attempt the runner holds (its live log folder), a page at a time' },
      },
      async (request, reply) => {
        const { runnerName, key: prefix } = await admit(request, reply, 'list');
        const query = request.query as Record<string, unknown>;
        const limit = typeof query['limit'] === 'string' ? Number(query['limit']) : undefined;
        const cursor = typeof query['cursor'] === 'string' ? query['cursor'] : undefined;
        const page = await storage.list({ prefix, ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) });
        // A listed key the runner may not read is left out (an execution whose id extends a held one's).
        const readable: string[] = [];
        for (const key of page.keys) if ((await gate.decide(runnerName, key, 'read')).allowed) readable.push(key);
        return reply.send({ keys: readable, cursor: page.cursor });
      },
    );
  });
}

const verbs: Readonly<Record<RunnerStorageOperation, string>> = { read: 'read', write: 'write', delete: 'delete', list: 'list keys under' };

/** The key a request's path names: each segment percent-decoded on its own, then checked as a storage key. */
function keyOf(request: FastifyRequest): string {
  const path = request.url.split('?', 1)[0]!;
  const segments = path.slice(runnerStoragePath.length + 1).split('/');
  const decoded = segments.map((segment) => {
    let text: string;
    try {
      text = decodeURIComponent(segment);
    } catch (error) {
      throw keyInvalid(`its segment ${JSON.stringify(segment.slice(0, 80))} is not valid percent-encoding`, error);
    }
    if (text.includes('/'))
      throw keyInvalid(`its segment ${JSON.stringify(segment.slice(0, 80))} holds an encoded slash; send each segment of the key as a segment of the path`);
    return text;
  });
  const key = decoded.join('/');
  storageKeySegments(key, 'runner-storage');
  return key;
}

function prefixOf(request: FastifyRequest): string {
  const prefix = (request.query as Record<string, unknown>)['prefix'];
  return typeof prefix === 'string' ? prefix : '';
}

function putOptionsOf(request: FastifyRequest): StoragePutOptions {
  const ifNoneMatch = request.headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') {
    throw new CairnError(
      'CAIRN_PAYLOAD_INVALID',
      `if-none-match takes only "*" here (store only when nothing is stored under the key), not ${JSON.stringify(ifNoneMatch)}.`,
      {
        path: 'headers.if-none-match',
      },
    );
  }
  const contentType = request.headers['x-cairn-content-type'];
  return { ...(ifNoneMatch === '*' ? { ifAbsent: true } : {}), ...(typeof contentType === 'string' ? { contentType } : {}) };
}

/**
 * The body's chunks, counted against `limitBytes` and, for a content-addressed key, hashed: bytes
 * that do not hash to the key throw from the last step, before storage publishes them.
 */
async function* checkedBody(body: Readable, key: string, limitBytes: number): AsyncGenerator<Uint8Array> {
  const expected = digestNamedByKey(key);
  const hash = expected === undefined ? undefined : createHash('sha256');
  let received = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    received += chunk.byteLength;
    if (received > limitBytes) throw tooLarge(key, limitBytes);
    hash?.update(chunk);
    yield chunk;
  }
  if (hash === undefined || expected === undefined) return;
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== expected) {
    throw new CairnError(
      'CAIRN_DIGEST_MISMATCH',
      `The bytes sent for ${JSON.stringify(key)} hash to ${actual}, not the ${expected} the key names. Nothing was stored.`,
      {
        path: key,
        details: { key, expected, actual },
      },
    );
  }
}

async function gathered(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  const joined = Buffer.concat(parts);
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

/**
 * A result record is written once: the first put stores it; the same bytes again (a retry whose
 * answer was lost) answer written, as a plain put of equal bytes would; other bytes are refused.
 */
async function writeOnce(storage: StorageProviderV1, key: string, bytes: Uint8Array, options: StoragePutOptions): Promise<StoragePutResult> {
  const first = await storage.put(key, bytes, { ...options, ifAbsent: true });
  if (first.written || options.ifAbsent === true) return first;
  const stored = await storage.get(key);
  if (stored !== null && Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).equals(bytes)) return { written: true };
  const reason = 'a result record is written once, and a different one is stored already';
  throw new CairnError('CAIRN_FORBIDDEN', `${JSON.stringify(key)} was not written: ${reason}.`, {
    path: key,
    details: { key, operation: 'write', reason },
    action: 'Read the stored record: the attempt already reported how it ended.',
  });
}

function notFound(key: string): CairnError {
  return new CairnError('CAIRN_NOT_FOUND', `No object is stored under ${JSON.stringify(key)}.`, { path: key });
}

function keyInvalid(problem: string, cause?: unknown): CairnError {
  return new CairnError('CAIRN_STORAGE_KEY_INVALID', `[cairn] [runner-storage] the key in the path is refused: ${problem}.`, {
    path: 'url',
    details: { rule: problem },
    ...(cause === undefined ? {} : { cause }),
  });
}

function tooLarge(key: string, limitBytes: number): CairnError {
  return new CairnError(
    'CAIRN_UPLOAD_TOO_LARGE',
    `The body for ${JSON.stringify(key)} is larger than the ${limitBytes} bytes this server takes under that key. Nothing was stored.`,
    {
      path: 'body',
      details: { limitBytes },
    },
  );
}
