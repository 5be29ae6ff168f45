// The server's log as `cairn serve` writes it: a real built `cairn serve` child, real requests with
// a real token and a real secret, and its captured output checked line by line.
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../cli/init-server.ts';
import { createServerLogger } from './server-logger.ts';

const here = dirname(fileURLToPath(import.meta.url));
const builtCli = join(here, '..', '..', 'dist', 'cli.js');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_EXTRA_CA_CERTS'];
  return env;
}

test('redaction: authorization headers and secret body fields by path, token shapes anywhere in a line', () => {
  const lines: string[] = [];
  const logger = createServerLogger({ pretty: false, destination: { write: (line: string) => void lines.push(line) } });
  const token = `cairn_0123456789ab_${'S'.repeat(43)}`;
  logger.info(
    { headers: { authorization: `Bearer ${token}` }, body: { name: 'API_KEY', value: 'hunter2', nested: { password: 'pw-1', token: 'tk-1' } } },
    `got ${token}`,
  );
  logger.error({ err: new Error(`the webhook secret whsec_c2VjcmV0LWJ5dGVz was refused for ${token}`) }, 'delivery failed');
  logger.child({ component: 'engine' }).info({ req: { method: 'GET', url: `/v1/runs?token=${token}`, headers: { authorization: 'x' } } }, 'a request');
  const text = lines.join('');
  for (const secret of [token, 'S'.repeat(43), 'hunter2', 'pw-1', 'tk-1', 'c2VjcmV0LWJ5dGVz', 'Bearer']) expect(text).not.toContain(secret);
  const [first, second, third] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(first).toMatchObject({
    msg: 'got cairn_0123456789ab_[redacted]',
    body: { name: 'API_KEY', value: '[redacted]', nested: { password: '[redacted]', token: '[redacted]' } },
    headers: { authorization: '[redacted]' },
  });
  expect(second).toMatchObject({ level: 50, err: { message: 'the webhook secret whsec_[redacted] was refused for cairn_0123456789ab_[redacted]' } });
  // A request is its method and path: no query string, no headers.
  expect(third).toMatchObject({ component: 'engine', req: { method: 'GET', path: '/v1/runs' } });
  expect(JSON.stringify(third)).not.toContain('headers');
});

test('pretty lines for a terminal are coloured, and never when NO_COLOR is set', () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-log-colour-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const written = (noColor: string | undefined) => {
    const file = join(directory, `log-${noColor ?? 'unset'}.txt`);
    const descriptor = openSync(file, 'w');
    const previous = process.env['NO_COLOR'];
    if (noColor === undefined) delete process.env['NO_COLOR'];
    else process.env['NO_COLOR'] = noColor;
    try {
      createServerLogger({ pretty: true, destination: descriptor }).info('hello colours');
    } finally {
      if (previous === undefined) delete process.env['NO_COLOR'];
      else process.env['NO_COLOR'] = previous;
      closeSync(descriptor);
    }
    return readFileSync(file, 'utf8');
  };
  expect(written(undefined)).toContain('\x1b[');
  const plain = written('1');
  expect(plain).toContain('hello colours');
  expect(plain).not.toContain('\x1b[');
});

test('cairn serve (built) logs JSON lines with each request, and neither the token nor a secret set through it', { timeout: 60_000 }, async () => {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-log-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const { operatorToken } = await initServer(directory);
  const serve = spawn(process.execPath, [builtCli, 'serve'], {
    cwd: directory,
    env: environment({ CAIRN_PORT: '0', CAIRN_SANDBOX: 'none', CAIRN_LOG_LEVEL: 'debug' }),
  });
  let stdout = '';
  let stderr = '';
  serve.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => serve.on('close', resolve));
  cleanups.push(() => serve.kill('SIGKILL'));
  const base = await new Promise<string>((resolve, reject) => {
    serve.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const listening = /cairn serving (http:\/\/\S+)/.exec(stdout);
      if (listening) resolve(listening[1]!);
    });
    serve.on('close', () => reject(new Error(`cairn serve exited: ${stderr}`)));
  });

  const secretValue = 'correct-horse-battery-staple-41';
  const setSecret = spawn(process.execPath, [builtCli, 'secret', 'set', 'API_KEY', '--server', base], { env: environment({ CAIRN_TOKEN: operatorToken }) });
  let setOutput = '';
  setSecret.stdout.on('data', (chunk: Buffer) => (setOutput += chunk.toString()));
  setSecret.stdin.end(`${secretValue}\n`);
  expect(await new Promise((resolve) => setSecret.on('close', resolve)), setOutput).toBe(0);
  expect(setOutput).toContain('secret API_KEY set');
  // The token in a header, and where no header belongs: in a query string.
  expect((await fetch(`${base}/v1/runs/r-missing?token=${operatorToken}`, { headers: { authorization: `Bearer ${operatorToken}` } })).status).toBe(404);
  expect((await fetch(`${base}/v1/secrets`, { headers: { authorization: 'Bearer cairn_000000000000_wrong' } })).status).toBe(401);

  serve.kill('SIGTERM');
  expect(await exited).toBe(0);
  const lines = stdout.split('\n').filter((line) => line !== '' && !line.startsWith('cairn serving'));
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const requests = records.filter((record) => record['msg'] === 'request');
  expect(requests).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ method: 'PUT', route: '/v1/secrets/:name', status: 200, ms: expect.any(Number) }),
      expect.objectContaining({ method: 'GET', route: '/v1/runs/:runId', status: 404 }),
      expect.objectContaining({ method: 'GET', route: '/v1/secrets', status: 401 }),
    ]),
  );
  const everything = stdout + stderr;
  expect(everything).not.toContain(operatorToken);
  // cairn_<id>_<secret>: the secret is base64url, so it may hold '_' itself.
  expect(everything).not.toContain(/^cairn_[0-9a-f]{12}_(.+)$/.exec(operatorToken)![1]!);
  expect(everything).not.toContain(secretValue);
  expect(everything).not.toMatch(/authorization/i);
  // Nothing but the server's own lines: no deprecation or other runtime warning at start.
  expect(stderr).not.toMatch(/Warning|FSTDEP/);
});
