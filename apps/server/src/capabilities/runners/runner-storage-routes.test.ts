import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest, StorageProviderV1 } from '@cairn/core';
import { describeStorageProvider } from '@cairn/conformance';
import { createLocalStorageProvider, type LocalStorageProvider } from '@cairn/local';
import { blobKey, CairnError, delegationKey, isCairnError, liveLogSegmentKey, liveLogStateKey, manifestKey, resultKey, sha256Digest } from '@cairn/protocol';
import { createRunnerStorageProvider } from '@cairn/runner';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, test } from 'vitest';
import { replyWithError } from '../../http/error-replies.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { registerRunnerStorageRoutes, type RunnerLeases } from './runner-storage-routes.ts';
import { registerRunnerStorageTransport, runnerStoragePath, type RunnerStorageGate, type RunnerStorageRefusal } from './runner-storage-transport.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The runner a test token names: `token-of-<name>`. */
function authorize(request: { headers: Record<string, unknown> }): string {
  const header = request.headers['authorization'];
  const name = typeof header === 'string' ? /^Bearer token-of-(.+)$/.exec(header)?.[1] : undefined;
  if (name === undefined) throw new CairnError('CAIRN_UNAUTHENTICATED', 'This request needs a runner token.');
  return name;
}

interface RunningServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** A tiny server with the runner storage routes alone, answering errors as the HTTP API does. */
async function serve(register: (app: HttpApp) => void, port = 0): Promise<RunningServer> {
  const app: HttpApp = Fastify({
    logger: false,
    frameworkErrors: (error, request, reply) => replyWithError(error, request, reply),
    // A keep-alive connection whose last answer was still finishing when close began would hold
    // close for the whole keep-alive timeout (seen once in a few runs).
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((error, request, reply) => replyWithError(error instanceof Error ? error : new Error(String(error)), request, reply));
  register(app);
  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, port: address.port, close: () => app.close() };
}

/** A lease book's answers about runners' attempts, set by the test: test support, not the RunnerExecutor. */
class FakeLeases implements RunnerLeases {
  readonly #leases = new Map<string, { runner: string; manifestDigest: Digest; state: 'held' | 'lapsed' }>();

  hold(runner: string, executionId: string, manifestDigest: Digest): void {
    this.#leases.set(executionId, { runner, manifestDigest, state: 'held' });
  }

  lapse(executionId: string): void {
    this.#leases.get(executionId)!.state = 'lapsed';
  }

  holds(runnerName: string, executionId: string): boolean {
    const lease = this.#leases.get(executionId);
    return lease?.runner === runnerName && lease.state === 'held';
  }

  heldBy(runnerName: string): string[] {
    return [...this.#leases].filter(([, lease]) => lease.runner === runnerName && lease.state === 'held').map(([executionId]) => executionId);
  }

  lapsed(runnerName: string, executionId: string): boolean {
    const lease = this.#leases.get(executionId);
    return lease?.runner === runnerName && lease.state === 'lapsed';
  }

  manifestDigestOf(executionId: string): Digest | undefined {
    return this.#leases.get(executionId)?.manifestDigest;
  }

  /** What the routes said they stored as result records, in order. */
  readonly storedResults: { runnerName: string; executionId: string; text: string }[] = [];

  resultStored(runnerName: string, executionId: string, bytes: Uint8Array): void {
    this.storedResults.push({ runnerName, executionId, text: new TextDecoder().decode(bytes) });
  }
}

// Every key open: the transport and the client under the whole storage suite. The rules that
// close most keys to a runner are `decideRunnerStorageAccess`'s, tested on their own and below.
const openGate: RunnerStorageGate = { decide: () => ({ allowed: true, rule: 'live-log' }) };
const conformanceServers = new Map<StorageProviderV1, { server: RunningServer; local: LocalStorageProvider }>();

describeStorageProvider({
  name: 'runner storage over HTTP, every key open, to a local directory',
  async create() {
    const local = createLocalStorageProvider({ root: await mkdtemp(join(tmpdir(), 'cairn-runner-storage-')) });
    const server = await serve((app) => registerRunnerStorageTransport(app, { storage: local, authorize, gate: openGate }));
    const client = createRunnerStorageProvider({ baseUrl: server.url, token: 'token-of-runner-a' });
    conformanceServers.set(client, { server, local });
    return client;
  },
  // The directory read by the local provider itself, not through the routes or the client.
  oracle: (client) => {
    const { local } = conformanceServers.get(client)!;
    return { readRaw: (key) => local.get(key), writeRaw: async (key, body) => void (await local.put(key, body)) };
  },
  async cleanup(client) {
    const { server, local } = conformanceServers.get(client)!;
    conformanceServers.delete(client);
    await server.close();
    await rm(local.root, { recursive: true, force: true });
  },
});

describe('the runner storage routes, over the attempts a runner holds', () => {
  const execution = 'run-1/build/1';
  const othersExecution = 'run-1/test/1';
  const workspace = utf8('workspace snapshot bytes');
  const input = utf8('an upstream patch');
  const unrelated = utf8("another run's snapshot");
  const signer = sha256Digest('the key that signed the manifest');
  let cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
  });

  /** A stored manifest of `executionId` (a DSSE envelope; its signature is not checked here) and its digest. */
  async function storeManifest(local: LocalStorageProvider, executionId: string, named: { workspace: Uint8Array; input: Uint8Array }): Promise<Digest> {
    const payload = {
      version: 'cairn.manifest/v1',
      executionId,
      workspace: sha256Digest(named.workspace),
      inputs: { upstream: { from: 'upstream', select: 'patch', digest: sha256Digest(named.input) } },
    };
    const envelope = {
      payloadType: 'application/vnd.cairn.manifest+json',
      payload: Buffer.from(JSON.stringify(payload)).toString('base64'),
      signatures: [{ keyid: signer, sig: Buffer.from('signature').toString('base64') }],
    };
    const bytes = utf8(JSON.stringify(envelope));
    const digest = sha256Digest(bytes);
    await local.put(manifestKey(digest), bytes);
    return digest;
  }

  async function setUp() {
    const local = createLocalStorageProvider({ root: await mkdtemp(join(tmpdir(), 'cairn-runner-storage-routes-')) });
    const leases = new FakeLeases();
    const refusals: RunnerStorageRefusal[] = [];
    const server = await serve((app) =>
      registerRunnerStorageRoutes(app, { storage: local, leases, authorize, onRefused: (refusal) => void refusals.push(refusal) }),
    );
    cleanups.push(
      () => server.close(),
      () => rm(local.root, { recursive: true, force: true }),
    );
    for (const bytes of [workspace, input, unrelated]) await local.put(blobKey(sha256Digest(bytes)), bytes);
    await local.put(delegationKey(signer), utf8('{"a":"delegation statement"}'));
    const manifest = await storeManifest(local, execution, { workspace, input });
    const othersManifest = await storeManifest(local, othersExecution, { workspace: unrelated, input });
    leases.hold('runner-a', execution, manifest);
    leases.hold('runner-b', othersExecution, othersManifest);
    const runnerA = createRunnerStorageProvider({ baseUrl: server.url, token: 'token-of-runner-a' });
    const runnerB = createRunnerStorageProvider({ baseUrl: server.url, token: 'token-of-runner-b' });
    return { local, leases, refusals, server, runnerA, runnerB, manifest, othersManifest };
  }

  async function refusal(operation: Promise<unknown>): Promise<CairnError> {
    const error = await operation.then(
      () => undefined,
      (rejected: unknown) => rejected,
    );
    if (!isCairnError(error)) throw new Error(`expected a CairnError, got ${String(error)}`);
    return error;
  }

  test('a runner reads the manifest, workspace, inputs and delegation of an attempt it holds, and writes its blobs, result and live log', async () => {
    const { local, runnerA, manifest } = await setUp();
    expect(await runnerA.get(manifestKey(manifest))).toEqual(await local.get(manifestKey(manifest)));
    expect(Buffer.from((await runnerA.get(blobKey(sha256Digest(workspace))))!)).toEqual(Buffer.from(workspace));
    expect((await runnerA.head(blobKey(sha256Digest(input))))?.size).toBe(input.byteLength);
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await runnerA.getStream!(blobKey(sha256Digest(input))))!) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('an upstream patch');
    expect(await runnerA.get(delegationKey(signer))).not.toBeNull();
    // A blob it writes (a patch) it may read back while it holds the attempt.
    const patch = utf8('diff --git a/x b/x');
    expect(await runnerA.put(blobKey(sha256Digest(patch)), patch, { ifAbsent: true, contentType: 'text/x-diff' })).toEqual({ written: true });
    expect(Buffer.from((await local.get(blobKey(sha256Digest(patch))))!)).toEqual(Buffer.from(patch));
    expect(Buffer.from((await runnerA.get(blobKey(sha256Digest(patch))))!)).toEqual(Buffer.from(patch));
    await runnerA.put(liveLogSegmentKey(execution, 'stdout', 0), utf8('hello\n'));
    await runnerA.put(liveLogStateKey(execution), utf8('{"state":1}'));
    expect((await runnerA.list({ prefix: `live-logs/${execution}/` })).keys).toEqual([liveLogStateKey(execution), liveLogSegmentKey(execution, 'stdout', 0)]);
    await runnerA.delete(liveLogSegmentKey(execution, 'stdout', 0));
    expect(await local.get(liveLogSegmentKey(execution, 'stdout', 0))).toBeNull();
    expect(await runnerA.put(resultKey(execution), utf8('{"outcome":"succeeded"}'), { contentType: 'application/json' })).toEqual({ written: true });
    expect(new TextDecoder().decode((await local.get(resultKey(execution)))!)).toBe('{"outcome":"succeeded"}');
    expect(await runnerA.get(resultKey(execution))).not.toBeNull();
    expect(await runnerA.get(liveLogSegmentKey(execution, 'stderr', 0)), 'a missing key of a held attempt').toBeNull();
  });

  test('a key of an attempt the runner does not hold is 403 CAIRN_FORBIDDEN naming the key and why', async () => {
    const { local, runnerA, runnerB, server, othersManifest } = await setUp();
    const result = await refusal(runnerB.get(resultKey(execution)));
    expect(result.code).toBe('CAIRN_FORBIDDEN');
    expect(result.message).toContain(`"${resultKey(execution)}"`);
    expect(result.message).toMatch(/holds no lease on run-1\/build\/1/);
    expect((await refusal(runnerB.put(resultKey(execution), utf8('{}')))).code).toBe('CAIRN_FORBIDDEN');
    expect(await local.get(resultKey(execution)), 'nothing stored').toBeNull();
    expect((await refusal(runnerA.get(manifestKey(othersManifest)))).message).toMatch(/manifest of no attempt this runner holds/);
    expect((await refusal(runnerA.get(blobKey(sha256Digest(unrelated))))).message).toMatch(/named by no manifest of an attempt this runner holds/);
    expect((await refusal(runnerA.head(blobKey(sha256Digest(unrelated))))).code).toBe('CAIRN_FORBIDDEN');
    expect((await refusal(runnerA.delete(blobKey(sha256Digest(workspace))))).message).toMatch(/a runner deletes none/);
    expect((await refusal(runnerA.list({ prefix: 'blobs/' }))).message).toMatch(/lists only under the live log folder/);
    expect((await refusal(runnerA.get('runs/run-1/spec.json'))).message).toMatch(/only the keys of the attempts it holds/);
    expect(await local.get(blobKey(sha256Digest(workspace))), 'the refused delete deleted nothing').not.toBeNull();
    // The answer itself: status, code, the key as its path, and why.
    const answer = await fetch(`${server.url}${runnerStoragePath}/results/run-1/build/1.json`, { headers: { authorization: 'Bearer token-of-runner-b' } });
    expect(answer.status).toBe(403);
    expect(await answer.json()).toMatchObject({ code: 'CAIRN_FORBIDDEN', path: resultKey(execution), message: expect.stringMatching(/holds no lease/) });
  });

  test('a write for an attempt whose lease lapsed is refused and reported; a read of it is refused, not reported', async () => {
    const { local, leases, refusals, runnerA } = await setUp();
    await runnerA.put(liveLogStateKey(execution), utf8('{"state":1}'));
    leases.lapse(execution);
    const refused = await refusal(runnerA.put(resultKey(execution), utf8('{"outcome":"succeeded"}')));
    expect(refused.code).toBe('CAIRN_FORBIDDEN');
    expect(refused.message).toMatch(/lease of run-1\/build\/1 lapsed/);
    expect(await local.get(resultKey(execution)), 'the late result is not stored').toBeNull();
    expect((await refusal(runnerA.delete(liveLogStateKey(execution)))).code).toBe('CAIRN_FORBIDDEN');
    expect((await refusal(runnerA.get(liveLogStateKey(execution)))).code).toBe('CAIRN_FORBIDDEN');
    expect(refusals).toEqual([
      { runnerName: 'runner-a', executionId: execution, key: resultKey(execution), operation: 'write', reason: expect.stringMatching(/lapsed/) },
      { runnerName: 'runner-a', executionId: execution, key: liveLogStateKey(execution), operation: 'delete', reason: expect.stringMatching(/lapsed/) },
    ]);
    // With no attempt held, it may store no blob either (not an attempt's key: refused, not reported).
    const patch = utf8('late patch');
    expect((await refusal(runnerA.put(blobKey(sha256Digest(patch)), patch))).message).toMatch(/holds no attempt/);
    expect(refusals).toHaveLength(2);
  });

  test('a result record is written once: the same bytes again are written, others refused, and it is never deleted', async () => {
    const { local, runnerA, leases } = await setUp();
    const record = utf8('{"outcome":"failed"}');
    expect(await runnerA.put(resultKey(execution), record)).toEqual({ written: true });
    expect(await runnerA.put(resultKey(execution), record), 'a retry with the same bytes').toEqual({ written: true });
    expect(await runnerA.put(resultKey(execution), record, { ifAbsent: true }), 'an if-absent put of a stored record').toEqual({ written: false });
    expect((await refusal(runnerA.put(resultKey(execution), utf8('{"outcome":"succeeded"}')))).message).toMatch(/written once/);
    expect((await refusal(runnerA.delete(resultKey(execution)))).message).toMatch(/written once and kept/);
    expect(new TextDecoder().decode((await local.get(resultKey(execution)))!)).toBe('{"outcome":"failed"}');
    // The book is told of the bytes each time they are stored (ADR 0060); not of a refused put, nor of an if-absent one that found a record.
    expect(leases.storedResults).toEqual(Array(2).fill({ runnerName: 'runner-a', executionId: execution, text: '{"outcome":"failed"}' }));
  });

  test('path tricks are refused before any rule: dot segments, encoded dots and slashes, NUL, bad percent-encoding', async () => {
    const { local, server } = await setUp();
    await local.put(resultKey(othersExecution), utf8('{"theirs":true}'));
    const hex = sha256Digest(unrelated).slice('sha256:'.length);
    const paths = [
      `${runnerStoragePath}/live-logs/run-1/build/1/../../test/1/state.json`,
      `${runnerStoragePath}/results/run-1/build/1/../../test/1.json`,
      `${runnerStoragePath}/live-logs/run-1/build/1/%2E%2E/%2e%2e/%2E%2E/blobs/${hex}`,
      `${runnerStoragePath}/results/run-1%2Ftest%2F1.json`,
      `${runnerStoragePath}/results%2Frun-1%2Fbuild%2F1.json`,
      `${runnerStoragePath}/results/run-1/build/1%00.json`,
      `${runnerStoragePath}/results//run-1/build/1.json`,
      `${runnerStoragePath}/`,
    ];
    for (const path of paths) {
      // node:http sends the path as written: a URL parser (fetch) would resolve the dot segments first.
      const answer = await rawRequest(server.port, 'GET', path, { authorization: 'Bearer token-of-runner-a' });
      expect(answer.status, path).toBe(400);
      expect(JSON.parse(answer.body), path).toMatchObject({ code: 'CAIRN_STORAGE_KEY_INVALID' });
    }
    // Percent-encoding that decodes to nothing: the router refuses the URL before any route.
    const malformed = await rawRequest(server.port, 'GET', `${runnerStoragePath}/results/run-1/build/%E0%A4%A.json`, {
      authorization: 'Bearer token-of-runner-a',
    });
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toMatchObject({ code: 'CAIRN_PAYLOAD_INVALID', path: 'url' });
    const put = await rawRequest(server.port, 'PUT', `${runnerStoragePath}/results/run-1/build/1/../../test/1.json`, {
      authorization: 'Bearer token-of-runner-a',
      'content-type': 'application/octet-stream',
    });
    expect(put.status).toBe(400);
    expect(new TextDecoder().decode((await local.get(resultKey(othersExecution)))!)).toBe('{"theirs":true}');
  });

  test('a blob whose bytes do not hash to its key is 422 and stores nothing; a request without a runner token is 401', async () => {
    const { local, server } = await setUp();
    const claimed = sha256Digest('the bytes the key names');
    const answer = await fetch(`${server.url}${runnerStoragePath}/${blobKey(claimed)}`, {
      method: 'PUT',
      headers: { authorization: 'Bearer token-of-runner-a', 'content-type': 'application/octet-stream' },
      body: utf8('other bytes'),
    });
    expect(answer.status).toBe(422);
    expect(await answer.json()).toMatchObject({ code: 'CAIRN_DIGEST_MISMATCH' });
    expect(await local.get(blobKey(claimed))).toBeNull();
    const anonymous = await fetch(`${server.url}${runnerStoragePath}/${resultKey(execution)}`);
    expect(anonymous.status).toBe(401);
    const client = createRunnerStorageProvider({ baseUrl: server.url, token: 'not-a-runner-token' });
    expect((await refusal(client.get(resultKey(execution)))).code).toBe('CAIRN_UNAUTHENTICATED');
  });

  test('the client waits out a server that is down for a moment, and says CAIRN_STORAGE_UNAVAILABLE for one that stays down', async () => {
    const port = await freePort();
    const local = createLocalStorageProvider({ root: await mkdtemp(join(tmpdir(), 'cairn-runner-storage-outage-')) });
    cleanups.push(() => rm(local.root, { recursive: true, force: true }));
    await local.put('live-logs/x/state.json', utf8('{"state":2}'));
    const client = createRunnerStorageProvider({ baseUrl: `http://127.0.0.1:${port}`, token: 'token-of-runner-a', outageBudgetMs: 10_000 });
    const reading = client.get('live-logs/x/state.json');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const server = await serve((app) => registerRunnerStorageTransport(app, { storage: local, authorize, gate: openGate }), port);
    cleanups.push(() => server.close());
    expect(new TextDecoder().decode((await reading)!)).toBe('{"state":2}');
    const down = createRunnerStorageProvider({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      token: 'token-of-runner-a',
      maxAttempts: 2,
      outageBudgetMs: 0,
    });
    const failure = await refusal(down.get('live-logs/x/state.json'));
    expect(failure.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect(failure.message).toMatch(/ECONNREFUSED/);
    expect(failure.message).not.toContain('token-of-runner-a');
  });
});

/** A request sent exactly as written (no URL parsing on the way). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** A port nothing listens on (bound and released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (address !== null && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
