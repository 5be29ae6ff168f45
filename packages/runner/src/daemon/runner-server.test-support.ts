// A runner's server in the test process: node:http around a real lease book (RunnerExecutor), with
// the routes a runner calls, bearer tokens that can be revoked, the version check of the server,
// and a way to go away and come back on the same port. Attempts get signed manifests in a local
// directory storage, as the engine would store them.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DispatchManifest, ExecutionStatus, Logger, PublicKeyRecord, RuntimeSpec, TaskEnvelope } from '@cairn/core';
import { preAuthenticationEncoding } from '@cairn/audit';
import { createLocalStorageProvider, removeWithMounts } from '@cairn/local';
import {
  CairnError,
  canonicalJsonBytes,
  digestOfJson,
  errorCatalogue,
  isCairnError,
  manifestKey,
  sha256Digest,
  type RunnerExit,
  type RunnerPollRequest,
} from '@cairn/protocol';
import type { RunnerExecutor } from '../executor/runner-executor.ts';

/** A storage directory, an engine signing key and signed tasks in that storage. */
export function runnerWorld() {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-runner-daemon-'));
  // Sandboxes start as their own uid and must pass through to their workspace.
  chmodSync(directory, 0o711);
  const storageRoot = join(directory, 'storage');
  mkdirSync(storageRoot);
  const storage = createLocalStorageProvider({ root: storageRoot });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ format: 'der', type: 'spki' });
  const key: PublicKeyRecord = { keyId: `sha256:${createHash('sha256').update(der).digest('hex')}`, algorithm: 'ed25519', publicKey: der.toString('base64') };

  /** A task `<run>/<item>/<attempt>` whose signed manifest runs `runtime`, stored. */
  const task = async (
    executionId: string,
    runtime: RuntimeSpec,
    overrides: Partial<DispatchManifest> = {},
    secrets?: Record<string, string>,
  ): Promise<TaskEnvelope> => {
    const [runId, itemId, attempt] = executionId.split('/') as [string, string, string];
    const manifest: DispatchManifest = {
      version: 'cairn.manifest/v1',
      runId,
      itemId,
      attempt: Number(attempt),
      fencingToken: 1,
      executionId,
      runtime,
      workspace: sha256Digest(''),
      inputs: {},
      apply: [],
      env: {},
      secretNames: Object.keys(secrets ?? {}),
      limits: { timeoutMs: 60_000, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 },
      effect: 'read-impure',
      issuedAt: new Date().toISOString(),
      ...overrides,
    };
    const payload = canonicalJsonBytes(manifest);
    const payloadType = 'application/vnd.cairn.manifest+json';
    const signature = sign(null, preAuthenticationEncoding(payloadType, payload), privateKey);
    const envelope = { payload: Buffer.from(payload).toString('base64'), payloadType, signatures: [{ keyid: key.keyId, sig: signature.toString('base64') }] };
    const manifestDigest = digestOfJson(envelope);
    await storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope), { contentType: 'application/json' });
    return { executionId, manifestDigest, ...(secrets ? { secrets } : {}) };
  };

  return {
    directory,
    storage,
    key,
    task,
    stateDirectory: join(directory, 'state'),
    workRoot: join(directory, 'work'),
    cleanUp: () => removeWithMounts(directory),
  };
}

export interface RunnerServerOptions {
  readonly executor: RunnerExecutor;
  /** Bearer token → runner name. */
  readonly tokens: Record<string, string>;
  /** The server's version: a poll of another minor version is refused, as the real server refuses it. */
  readonly version?: string;
}

/** The routes `POST /v1/runner/poll` and `POST /v1/runner/exits` over a lease book, and what they were sent. */
export async function startRunnerServer(options: RunnerServerOptions) {
  const tokens = new Map(Object.entries(options.tokens));
  const polls: { readonly runner: string; readonly body: RunnerPollRequest; readonly at: number }[] = [];
  const exitReports: { readonly runner: string; readonly exits: readonly RunnerExit[]; readonly at: number }[] = [];
  // An exit a poll carried may be carried again until an answer says it was taken: each id counts once.
  const reported = new Set<string>();
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const runner = tokens.get(header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '');
    if (runner === undefined) throw new CairnError('CAIRN_UNAUTHENTICATED', 'The token is unknown, expired or revoked.');
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    if (request.method === 'POST' && request.url === '/v1/runner/poll') {
      const poll = body as unknown as RunnerPollRequest;
      if (options.version !== undefined && minor(poll.version) !== minor(options.version)) {
        return reply(response, 409, {
          code: 'CAIRN_RUNNER_VERSION',
          message: `runner version ${poll.version} is not of the server's minor version (${options.version})`,
        });
      }
      polls.push({ runner, body: poll, at: Date.now() });
      for (const exit of poll.exits ?? []) reported.add(exit.executionId);
      const stop = new AbortController();
      response.once('close', () => stop.abort());
      return reply(response, 200, await options.executor.poll({ name: runner }, poll, stop.signal));
    }
    if (request.method === 'POST' && request.url === '/v1/runner/exits') {
      const exits = body['exits'] as RunnerExit[];
      exitReports.push({ runner, exits, at: Date.now() });
      for (const exit of exits) reported.add(exit.executionId);
      return reply(response, 200, options.executor.reportExits({ name: runner }, exits));
    }
    return reply(response, 404, { code: 'CAIRN_NOT_FOUND', message: `no route ${request.method} ${request.url}` });
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = isCairnError(error) ? errorCatalogue[error.code].status : 500;
      reply(response, status, { code: isCairnError(error) ? error.code : 'CAIRN_INTERNAL', message: (error as Error).message });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    polls,
    exitReports,
    /** The execution ids of the exits reported, by a poll or an exits report, in the order first reported. */
    reportedIds: () => [...reported],
    revoke: (token: string) => void tokens.delete(token),
    /** Stops listening and cuts every connection: the runner finds no server. */
    goAway: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
    /** Listens again on the same port. */
    comeBack: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
    close: async () => {
      if (!server.listening) return;
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    },
  };
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.writableEnded || response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function minor(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

/** Resolves with the status of the first exit the executor pushes for `executionId`. */
export function exitOf(executor: RunnerExecutor, executionId: string): Promise<ExecutionStatus> {
  return new Promise((resolve) => {
    const unsubscribe = executor.onExit((id, status) => {
      if (id !== executionId) return;
      unsubscribe();
      resolve(status);
    });
  });
}

/** A logger that keeps every line (to look for secrets in, and for the lease log lines). */
export function capturingLogger() {
  const lines: { readonly level: string; readonly message: string; readonly fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message?: string) => void lines.push({ level, message: message ?? '', fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}
