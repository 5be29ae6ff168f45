import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ForgeOracle } from '@cairn/conformance';

const run = promisify(execFile);

/** git for the test's own side (seeding and reading the served repositories), with no user configuration. */
const gitEnvironment = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: '/nonexistent',
  LC_ALL: 'C',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Seed',
  GIT_AUTHOR_EMAIL: 'seed@test.invalid',
  GIT_COMMITTER_NAME: 'Seed',
  GIT_COMMITTER_EMAIL: 'seed@test.invalid',
};

/** Runs git in `directory` for the test and returns its standard output. */
export async function git(directory: string, args: readonly string[], input?: string): Promise<string> {
  const pending = run('git', ['-c', 'protocol.file.allow=always', ...args], { cwd: directory, env: gitEnvironment, maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) pending.child.stdin!.end(input);
  const { stdout } = await pending;
  return stdout;
}

/** A real git server on loopback: `git http-backend` (CGI) behind Node's HTTP server, with basic auth. */
export interface GitHttpServer {
  /** Bare repositories live under it as `<name>.git`. */
  readonly root: string;
  /** `http://127.0.0.1:<port>/<name>.git` */
  url(name: string): string;
  path(name: string): string;
  /** Creates an empty bare repository `<name>.git`. */
  createRepository(name: string): Promise<void>;
  /**
   * Commits `files` (as a commit without parent) into the repository, pointed at by a
   * `refs/seeds/<n>` ref (so it is reachable and can be fetched by id), and answers its id.
   */
  commit(name: string, files: Readonly<Record<string, string>>): Promise<string>;
  /**
   * Runs before a push's first request (its ref advertisement) is served: lets a test move a
   * branch after the forge read it and before git pushes over it.
   */
  beforePush: (() => Promise<void>) | undefined;
  /** Requests that reached the server (authorised or not), for tests that prove nothing was sent. */
  readonly requests: () => number;
  close(): Promise<void>;
}

export interface GitHttpServerOptions {
  readonly username: string;
  readonly password: string;
  /**
   * Also accepts these basic-auth credentials (a forge's short-lived tokens, such as the
   * installation tokens a GitHub API test endpoint issues), besides `username` and `password`.
   */
  readonly accepts?: (username: string, password: string) => boolean;
}

export async function startGitHttpServer(options: GitHttpServerOptions): Promise<GitHttpServer> {
  const root = await mkdtemp(join(tmpdir(), 'cairn-git-server-'));
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  let requests = 0;
  let seeds = 0;
  // The handler reads `beforePush` from the object built once the server listens.
  let served: GitHttpServer | undefined;
  const server = createServer((request, response) => {
    requests += 1;
    if (request.headers.authorization !== expected && !acceptedByOption(request.headers.authorization, options)) {
      request.resume();
      response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="cairn-test"', 'Content-Type': 'text/plain' });
      response.end('authentication required\n');
      return;
    }
    // A push starts by reading the refs it will update (the receive-pack advertisement).
    const receiving = request.method === 'GET' && (request.url ?? '').endsWith('/info/refs?service=git-receive-pack');
    const ready = receiving && served?.beforePush ? served.beforePush() : Promise.resolve();
    ready.then(
      () => serveThroughHttpBackend(root, options.username, request, response),
      (error: unknown) => {
        response.writeHead(500, { 'Content-Type': 'text/plain' });
        response.end(String(error));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const created: GitHttpServer = {
    root,
    url: (name) => `http://127.0.0.1:${port}/${name}.git`,
    path: (name) => join(root, `${name}.git`),
    beforePush: undefined,
    async createRepository(name) {
      await git(root, ['init', '--quiet', '--bare', join(root, `${name}.git`)]);
    },
    async commit(name, files) {
      // One `git fast-import` writes the blobs, the tree and the commit: a seed costs one process.
      seeds += 1;
      const bare = join(root, `${name}.git`);
      const ref = `refs/seeds/${seeds}`;
      const data = (text: string): string => `data ${Buffer.byteLength(text)}\n${text}\n`;
      const script = [
        `commit ${ref}\ncommitter Seed <seed@test.invalid> ${seeds} +0000\n${data('base\n')}`,
        ...Object.entries(files).map(([path, content]) => `M 100644 inline ${path}\n${data(content)}`),
      ].join('');
      await git(bare, ['fast-import', '--quiet'], script);
      return (await git(bare, ['rev-parse', ref])).trim();
    },
    requests: () => requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(root, { recursive: true, force: true });
    },
  };
  served = created;
  return created;
}

function acceptedByOption(authorization: string | undefined, options: GitHttpServerOptions): boolean {
  if (options.accepts === undefined || !authorization?.startsWith('Basic ')) return false;
  const decoded = Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon !== -1 && options.accepts(decoded.slice(0, colon), decoded.slice(colon + 1));
}

/** Hands one request to `git http-backend` as CGI (RFC 3875) and relays its answer. */
function serveThroughHttpBackend(root: string, user: string, request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'http://127.0.0.1');
  const header = (name: string): string => {
    const value = request.headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? '');
  };
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    // http-backend enables receive-pack (push) only for an authenticated user.
    REMOTE_USER: user,
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: request.method ?? 'GET',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: header('content-type'),
    // Protocol v2 is asked for in this header; gzip-compressed request bodies are announced in this one.
    GIT_PROTOCOL: header('git-protocol'),
    HTTP_CONTENT_ENCODING: header('content-encoding'),
  };
  if (request.headers['content-length'] !== undefined) env['CONTENT_LENGTH'] = header('content-length');
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const output: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  child.stdin.on('error', () => undefined);
  request.pipe(child.stdin);
  child.on('close', () => {
    const all = Buffer.concat(output);
    const end = all.indexOf('\r\n\r\n') === -1 ? all.indexOf('\n\n') : all.indexOf('\r\n\r\n');
    if (end === -1) {
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end(`http-backend gave no CGI headers: ${Buffer.concat(errors).toString('utf8')}`);
      return;
    }
    const separator = all[end] === 0x0d ? 4 : 2;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of all.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    response.writeHead(status, headers);
    response.end(all.subarray(end + separator));
  });
}

/**
 * The conformance suite's oracle over a bare repository: reads and moves its branches with git
 * directly, never through a forge, so a forge cannot vouch for itself.
 */
export function bareRepositoryOracle(path: string): ForgeOracle {
  return {
    async readBranch(branch) {
      return (await git(path, ['for-each-ref', '--format=%(objectname)', `refs/heads/${branch}`])).trim() || null;
    },
    async readCommit(commit) {
      const raw = await git(path, ['cat-file', 'commit', commit]).catch(() => null);
      if (raw === null) return null;
      const split = raw.indexOf('\n\n');
      const parents = raw
        .slice(0, split)
        .split('\n')
        .filter((line) => line.startsWith('parent '))
        .map((line) => line.slice(7));
      const files: Record<string, string> = {};
      for (const file of (await git(path, ['ls-tree', '-r', '-z', '--name-only', commit])).split('\0').filter(Boolean)) {
        files[file] = await git(path, ['cat-file', 'blob', `${commit}:${file}`]);
      }
      return { parents, message: raw.slice(split + 2), files };
    },
    async setBranch(branch, commit) {
      await git(path, ['update-ref', `refs/heads/${branch}`, commit]);
    },
  };
}
