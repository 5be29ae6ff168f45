import { createHash } from 'node:crypto';
import type { StorageListOptions, StorageListPage, StorageObjectMetadata, StoragePutOptions, StoragePutResult, StorageProviderV1 } from '@cairn/core';
import {
  assertContentMatchesKey,
  assertDigestMatchesKey,
  CairnError,
  digestNamedByKey,
  errorCatalogue,
  isCairnError,
  isTransientServiceError,
  parseSettings,
  storageKeySegments,
  withRetries,
  type CairnErrorCode,
} from '@cairn/protocol';
import { z } from 'zod';

const provider = 'runner-storage';
/** Where the server answers a runner's storage (`/v1/runner/storage/<key>`). */
const storagePath = 'v1/runner/storage';

/** Settings of `createRunnerStorageProvider`, checked at construction; errors name `runner.storage.<option>`. */
export const runnerStorageProviderSettingsSchema = z.strictObject({
  /** The server's URL, as the runner reaches it (`https://cairn.example.com`, or with a path prefix). */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of the Cairn server' }),
  /** The runner's token (scope `runners:run`): it reaches the keys of the attempts this runner holds, nothing else. */
  token: z.string().min(1, 'must not be empty'),
  /** The fetch to send requests with (tests inject one); the global fetch otherwise. */
  fetch: z.custom<typeof fetch>((value) => typeof value === 'function', 'must be a fetch function').optional(),
  /** Attempts of one request that fails transiently (a refused or cut connection, a timeout, a 5xx, a 429). */
  maxAttempts: z.int('must be a whole number').min(1, 'must be at least 1').max(20, 'must be at most 20').default(4),
  /**
   * How long a request that keeps failing transiently is retried past `maxAttempts`, from its first
   * attempt: a server restart or a network blip shorter than this is waited out, as an S3 outage is
   * by `@cairn/s3`. 0: only `maxAttempts` bounds the retries.
   */
  outageBudgetMs: z.int('must be a whole number of milliseconds').min(0, 'must not be negative').max(3_600_000, 'must be at most 3600000').default(60_000),
  /** The longest one request may take (a stream: until its answer starts). */
  requestTimeoutMs: z
    .int('must be a whole number of milliseconds')
    .min(1_000, 'must be at least 1000')
    .max(3_600_000, 'must be at most 3600000')
    .default(300_000),
});

export type RunnerStorageProviderSettings = Omit<z.input<typeof runnerStorageProviderSettingsSchema>, 'fetch'> & { readonly fetch?: typeof fetch };

const writtenAnswerSchema = z.object({ written: z.boolean() });
const listAnswerSchema = z.object({ keys: z.array(z.string()), cursor: z.string().nullable() });
const errorBodySchema = z.object({ code: z.string(), message: z.string(), action: z.string().optional(), path: z.string().optional() });

/**
 * StorageProviderV1 for a runner (ADR 0050): every operation is a request to the server
 * (`/v1/runner/storage/<key>`, the key's segments percent-encoded as the path's), which allows
 * only the keys of the attempts this runner holds. The worker gets the seam it has everywhere;
 * the runner never holds the storage's credentials.
 *
 * - Keys are checked before any request (CAIRN_STORAGE_KEY_INVALID), and content-addressed keys
 *   against their digest on put and on read (CAIRN_DIGEST_MISMATCH), as every provider does.
 * - A missing key is `null` (404). A key the runner may not reach is CAIRN_FORBIDDEN with the
 *   server's reason; other refusals keep the server's code (CAIRN_STORAGE_LIST_INVALID, ...).
 * - A refused or cut connection, a timeout, a 5xx or a 429 is retried (`maxAttempts`, then for
 *   `outageBudgetMs` from the first attempt); what still fails is CAIRN_STORAGE_UNAVAILABLE, with
 *   the server's message (a full disk says so, for the worker to wait for room).
 * - An if-absent put retried after a lost answer may find its own first attempt stored and report
 *   `written: false`: the object is there either way, as a content-addressed blob (the only
 *   if-absent put a worker makes) needs.
 * - `getStream` streams the answer's body, holding back one chunk until the next arrives so a
 *   digest mismatch or a cut body is raised before the last chunk. No `putStream`: the worker puts
 *   whole bytes, and a streamed body could not be sent again on a retry.
 */
export class RunnerStorageProvider implements StorageProviderV1 {
  readonly specificationVersion = 'v1';
  readonly provider = provider;
  readonly capabilities = { ifAbsent: true, stream: true } as const;
  /** The server's URL, ending in `/`. */
  readonly baseUrl: string;
  readonly #settings: Omit<z.output<typeof runnerStorageProviderSettingsSchema>, 'token' | 'fetch'>;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(settings: RunnerStorageProviderSettings) {
    const { token, fetch: injected, ...rest } = parseSettings(runnerStorageProviderSettingsSchema, settings, 'runner.storage');
    this.#settings = rest;
    this.#token = token;
    this.#fetch = injected ?? globalThis.fetch;
    this.baseUrl = rest.baseUrl.endsWith('/') ? rest.baseUrl : `${rest.baseUrl}/`;
  }

  async put(key: string, body: Uint8Array, options: StoragePutOptions = {}): Promise<StoragePutResult> {
    const url = this.#url(key);
    const operation = `put("${key}")`;
    assertContentMatchesKey(key, body, operation, provider);
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      ...(options.ifAbsent === true ? { 'if-none-match': '*' } : {}),
      ...(options.contentType === undefined ? {} : { 'x-cairn-content-type': options.contentType }),
    };
    return this.#send(operation, { method: 'PUT', url, headers, body }, async (response) => {
      if (!response.ok) throw await answeredError(response, operation);
      return { written: parseAnswer(writtenAnswerSchema, await response.json(), operation).written };
    });
  }

  async get(key: string): Promise<Uint8Array | null> {
    const url = this.#url(key);
    const operation = `get("${key}")`;
    const bytes = await this.#send(operation, { method: 'GET', url }, async (response) => {
      if (response.status === 404) return null;
      if (!response.ok) throw await answeredError(response, operation);
      // Read inside the retried request: a body cut mid-way is fetched again whole.
      return new Uint8Array(await response.arrayBuffer());
    });
    if (bytes !== null) assertContentMatchesKey(key, bytes, operation, provider);
    return bytes;
  }

  async getStream(key: string): Promise<AsyncIterable<Uint8Array> | null> {
    const url = this.#url(key);
    const operation = `getStream("${key}")`;
    const response = await this.#send(operation, { method: 'GET', url, timeout: 'until-answered' }, async (answer) => {
      if (answer.status === 404) {
        await answer.body?.cancel();
        return null;
      }
      if (!answer.ok) throw await answeredError(answer, operation);
      return answer;
    });
    if (response === null) return null;
    return chunksOf(key, response, operation);
  }

  async head(key: string): Promise<StorageObjectMetadata | null> {
    const url = this.#url(key);
    const operation = `head("${key}")`;
    return this.#send(operation, { method: 'HEAD', url }, async (response) => {
      if (response.status === 404) return null;
      if (!response.ok) throw await answeredError(response, operation);
      const size = Number(response.headers.get('content-length'));
      if (!Number.isSafeInteger(size) || size < 0) throw unavailable(`${operation}: the server answered without a length`);
      const contentType = response.headers.get('x-cairn-content-type');
      return { key, size, ...(contentType === null ? {} : { contentType }) };
    });
  }

  async list(options: StorageListOptions = {}): Promise<StorageListPage> {
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string')
      throw new CairnError('CAIRN_STORAGE_LIST_INVALID', `[cairn] [${provider}] list prefix must be a string, got ${typeof prefix}.`);
    const url = new URL(storagePath, this.baseUrl);
    url.searchParams.set('prefix', prefix);
    if (options.limit !== undefined) url.searchParams.set('limit', String(options.limit));
    if (options.cursor !== undefined) url.searchParams.set('cursor', options.cursor);
    const operation = `list(${JSON.stringify(prefix)})`;
    return this.#send(operation, { method: 'GET', url }, async (response) => {
      if (!response.ok) throw await answeredError(response, operation);
      return parseAnswer(listAnswerSchema, await response.json(), operation);
    });
  }

  async delete(key: string): Promise<void> {
    const url = this.#url(key);
    const operation = `delete("${key}")`;
    await this.#send(operation, { method: 'DELETE', url }, async (response) => {
      // A missing key is deleted already: delete is idempotent.
      if (!response.ok && response.status !== 404) throw await answeredError(response, operation);
      await response.body?.cancel();
    });
  }

  /** The URL of a key, checked first (CAIRN_STORAGE_KEY_INVALID before any request): each segment percent-encoded. */
  #url(key: string): URL {
    const segments = storageKeySegments(key, provider);
    return new URL(`${storagePath}/${segments.map((segment) => encodeURIComponent(segment)).join('/')}`, this.baseUrl);
  }

  /**
   * One request with retries: `answer` reads the response (inside the retried step, so a body cut
   * mid-way is asked again). A transient failure is retried; what still fails and is not already
   * a CairnError is CAIRN_STORAGE_UNAVAILABLE naming the operation and the server.
   */
  async #send<T>(
    operation: string,
    request: {
      readonly method: string;
      readonly url: URL;
      readonly headers?: Record<string, string>;
      readonly body?: Uint8Array;
      readonly timeout?: 'until-answered';
    },
    answer: (response: Response) => Promise<T>,
  ): Promise<T> {
    try {
      return await withRetries(
        async () => {
          const controller = new AbortController();
          const timer = setTimeout(
            () => controller.abort(new DOMException(`no answer within ${this.#settings.requestTimeoutMs} ms`, 'TimeoutError')),
            this.#settings.requestTimeoutMs,
          );
          try {
            const response = await this.#fetch(request.url, {
              method: request.method,
              headers: { authorization: `Bearer ${this.#token}`, ...request.headers },
              ...(request.body === undefined ? {} : { body: request.body as Uint8Array<ArrayBuffer> }),
              signal: controller.signal,
            });
            if (response.status >= 500 || response.status === 429) {
              const error = await answeredError(response, operation);
              retryableAnswers.add(error);
              throw error;
            }
            if (request.timeout === 'until-answered') clearTimeout(timer);
            return await answer(response);
          } finally {
            if (request.timeout !== 'until-answered') clearTimeout(timer);
          }
        },
        { maxAttempts: this.#settings.maxAttempts, budgetMs: this.#settings.outageBudgetMs, waitName: 'storage', isRetryable },
      );
    } catch (error) {
      if (isCairnError(error)) throw error;
      throw unavailable(`${operation} at ${this.baseUrl} failed: ${describeFailure(error)}`, error);
    }
  }
}

/** Builds a runner's storage provider; throws CAIRN_CONFIG_INVALID naming `runner.storage.<option>`. Nothing is sent before the first operation. */
export function createRunnerStorageProvider(settings: RunnerStorageProviderSettings): RunnerStorageProvider {
  return new RunnerStorageProvider(settings);
}

/** Answers of the server that mean "try again" (a 5xx, a 429), as the errors they were turned into. */
const retryableAnswers = new WeakSet<object>();

function isRetryable(error: unknown): boolean {
  if (typeof error === 'object' && error !== null && retryableAnswers.has(error)) return true;
  if (isCairnError(error)) return false;
  const { name, message, cause } = (error ?? {}) as { name?: string; message?: string; cause?: unknown };
  // fetch reports every failure to connect or to read as "fetch failed", the socket's error as its cause.
  return name === 'TimeoutError' || message === 'fetch failed' || isTransientServiceError(error) || isTransientServiceError(cause);
}

function describeFailure(error: unknown): string {
  const { message, cause } = (error ?? {}) as { message?: string; cause?: { code?: string; message?: string } };
  const reason = cause?.code ?? cause?.message;
  return `${message ?? String(error)}${reason === undefined ? '' : ` (${reason})`}. Check that the server answers at this URL from the runner's host (network, DNS, proxy)`;
}

function unavailable(message: string, cause?: unknown): CairnError {
  return new CairnError('CAIRN_STORAGE_UNAVAILABLE', `[cairn] [${provider}] ${message}.`, cause === undefined ? {} : { cause });
}

/**
 * A refusal or failure the server answered, as a CairnError: its own code for a refusal (403
 * CAIRN_FORBIDDEN with the reason, 400 CAIRN_STORAGE_LIST_INVALID), CAIRN_STORAGE_UNAVAILABLE
 * for a failure of the server or its storage, with what it said. An answer without a Cairn error
 * body (a proxy's, a HEAD's) is named by its status.
 */
async function answeredError(response: Response, operation: string): Promise<CairnError> {
  const text = await response.text().catch(() => '');
  let body: z.infer<typeof errorBodySchema> | undefined;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    body = parsed.success ? parsed.data : undefined;
  } catch {
    body = undefined;
  }
  const known = body !== undefined && Object.hasOwn(errorCatalogue, body.code) ? (body.code as CairnErrorCode) : undefined;
  const said = body === undefined ? `${response.status} ${response.statusText}`.trim() : `${response.status} ${body.code}: ${body.message}`;
  if (response.status >= 500 || response.status === 429 || (known === undefined && codeOfStatus[response.status] === undefined)) {
    return unavailable(`${operation}: the server answered ${said}`);
  }
  const code = known ?? codeOfStatus[response.status]!;
  // A HEAD's answer has no body: a get of the key says why.
  const message = body?.message ?? `the server refused it with ${said}${operation.startsWith('head(') ? '; a get of the key says why' : ''}`;
  return new CairnError(code, `[cairn] [${provider}] ${operation}: ${message}`, {
    ...(body?.path === undefined ? {} : { path: body.path }),
    ...(body?.action === undefined ? {} : { action: body.action }),
    details: { status: response.status },
  });
}

/** What an answer without a Cairn error body means, by its status. */
const codeOfStatus: Readonly<Partial<Record<number, CairnErrorCode>>> = {
  400: 'CAIRN_PAYLOAD_INVALID',
  401: 'CAIRN_UNAUTHENTICATED',
  403: 'CAIRN_FORBIDDEN',
  404: 'CAIRN_NOT_FOUND',
  413: 'CAIRN_UPLOAD_TOO_LARGE',
  422: 'CAIRN_DIGEST_MISMATCH',
};

function parseAnswer<Schema extends z.ZodType>(schema: Schema, value: unknown, operation: string): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw unavailable(
    `${operation}: the server's answer is not what a runner's storage answers (${parsed.error.issues[0]?.message ?? 'not valid'}); is the URL a Cairn server's?`,
  );
}

/**
 * The body's chunks in order, hashed for a content-addressed key, each yielded once the next has
 * arrived: a mismatch or a body shorter than its length is raised before the last chunk. The body
 * is released however the reader stops.
 */
async function* chunksOf(key: string, response: Response, operation: string): AsyncGenerator<Uint8Array> {
  const hash = digestNamedByKey(key) === undefined ? undefined : createHash('sha256');
  const announced = response.headers.get('content-length');
  const length = announced === null ? undefined : Number(announced);
  const body = response.body;
  if (body === null) {
    if (length !== undefined && length > 0) throw unavailable(`${operation}: the server answered without the body`);
    if (hash) assertDigestMatchesKey(key, `sha256:${hash.digest('hex')}`, operation, provider);
    return;
  }
  const reader = body.getReader();
  let received = 0;
  let held: Uint8Array | undefined;
  try {
    for (;;) {
      let step: Awaited<ReturnType<typeof reader.read>>;
      try {
        step = await reader.read();
      } catch (error) {
        throw unavailable(`${operation}: the body was cut after ${received} bytes (${describeFailure(error)}); read it again`, error);
      }
      if (step.done) break;
      received += step.value.byteLength;
      hash?.update(step.value);
      if (held !== undefined) yield held;
      held = step.value;
    }
    if (length !== undefined && received !== length) throw unavailable(`${operation}: the body ended after ${received} of ${length} bytes; read it again`);
    if (hash) assertDigestMatchesKey(key, `sha256:${hash.digest('hex')}`, operation, provider);
    if (held !== undefined) yield held;
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
