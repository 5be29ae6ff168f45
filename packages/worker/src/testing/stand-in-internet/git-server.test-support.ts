// The stand-in internet's git host: `git http-backend` (git's own smart-HTTP server, a CGI program)
// behind the HTTPS front, serving one private repository to whoever sends the token the way a
// forge's installation token is sent: `Authorization: Basic` of `x-access-token:<token>`.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The repository the git host serves, at `https://<git host>/<name>`, and a line its README holds. */
export const gitRepository = { name: 'private.git', branch: 'main', readme: 'README.md', line: 'a private repository of the stand-in internet' } as const;

/** The user name a token is sent with, as forges take installation tokens. */
export const gitTokenUser = 'x-access-token';

const execFileAsync = promisify(execFile);

// The server's git ignores the machine's configuration: a test's result must not depend on it.
const gitEnvironment = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: '/nonexistent',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  LC_ALL: 'C',
};

async function git(gitDirectory: string, args: readonly string[], input?: string): Promise<string> {
  const environment = {
    ...gitEnvironment,
    GIT_DIR: gitDirectory,
    GIT_AUTHOR_NAME: 'stand-in',
    GIT_AUTHOR_EMAIL: 'stand-in@test.example',
    GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  };
  const child = execFileAsync('git', args, {
    env: { ...environment, GIT_COMMITTER_NAME: 'stand-in', GIT_COMMITTER_EMAIL: 'stand-in@test.example', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' },
  });
  // A command that reads no stdin may exit before it is closed: its EPIPE is no failure.
  child.child.stdin?.on('error', () => {}).end(input ?? '');
  return (await child).stdout.trim();
}

/** Makes the bare repository under `root` with one commit (plumbing alone: no work tree, few spawns). */
export async function createGitRepository(root: string): Promise<void> {
  mkdirSync(root, { recursive: true });
  const directory = join(root, gitRepository.name);
  await execFileAsync('git', ['init', '--quiet', '--bare', `--initial-branch=${gitRepository.branch}`, directory], { env: gitEnvironment });
  const blob = await git(directory, ['hash-object', '-w', '--stdin'], `${gitRepository.line}\n`);
  const tree = await git(directory, ['mktree'], `100644 blob ${blob}\t${gitRepository.readme}\n`);
  const commit = await git(directory, ['commit-tree', tree, '-m', 'the stand-in repository']);
  await git(directory, ['update-ref', `refs/heads/${gitRepository.branch}`, commit]);
}

/** Whether `authorization` is Basic `x-access-token:<token>`. */
function carriesToken(authorization: string | undefined, token: string): boolean {
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  return match?.[1] !== undefined && Buffer.from(match[1], 'base64').toString() === `${gitTokenUser}:${token}`;
}

/** Answers smart-HTTP requests for the repositories under `root`, once the token is sent. */
export function createGitServer(root: string, token: string): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (!carriesToken(request.headers.authorization, token)) {
      request.resume();
      response.writeHead(401, { 'www-authenticate': 'Basic realm="stand-in git"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://git');
    const header = (name: string) => {
      const value = request.headers[name];
      return typeof value === 'string' ? value : undefined;
    };
    const cgi: Record<string, string> = {
      ...gitEnvironment,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: request.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REMOTE_USER: gitTokenUser,
      REMOTE_ADDR: request.socket.remoteAddress ?? '',
      CONTENT_TYPE: header('content-type') ?? '',
    };
    const optional: [string, string | undefined][] = [
      ['CONTENT_LENGTH', header('content-length')],
      ['HTTP_CONTENT_ENCODING', header('content-encoding')],
      ['GIT_PROTOCOL', header('git-protocol')],
    ];
    for (const [name, value] of optional) if (value !== undefined) cgi[name] = value;
    const backend = spawn('git', ['http-backend'], { env: cgi, stdio: ['pipe', 'pipe', 'ignore'] });
    request.pipe(backend.stdin);
    backend.stdin.on('error', () => {});
    let head = Buffer.alloc(0);
    let headDone = false;
    backend.stdout.on('data', (chunk: Buffer) => {
      if (headDone) return void response.write(chunk);
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf !== -1 && (lf === -1 || crlf < lf) ? { at: crlf, length: 4 } : lf !== -1 ? { at: lf, length: 2 } : undefined;
      if (end === undefined) return;
      headDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon === -1) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      response.writeHead(status, headers);
      response.write(head.subarray(end.at + end.length));
    });
    backend.on('error', () => response.destroy());
    backend.on('close', (code) => {
      if (!headDone) response.writeHead(502, { 'content-type': 'text/plain' }).end(`git http-backend exited with ${code} before its headers\n`);
      else response.end();
    });
  };
}
