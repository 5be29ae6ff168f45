// `cairn secret set` in the server's folder before the server runs (what `cairn doctor` asks for
// first): the secret is sealed and stored there, and the server started afterwards in that folder
// lists it and hands it to an item that names it. Once the server runs, `set` goes through it.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCairnClient } from '@cairn/client';
import { removeWithMounts } from '@cairn/local';
import { afterAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { FileTokenStore } from '../capabilities/access/file-token-store.ts';
import { initServer } from './init-server.ts';
import { runCli } from './run-cli.test-support.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts');
const directory = mkdtempSync(join(tmpdir(), 'cairn-secret-offline-'));
// Sandboxes start as their own uids and must pass through to their workspaces.
chmodSync(directory, 0o711);
const cleanups: (() => void)[] = [() => removeWithMounts(directory)];
afterAll(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A port free now: the server listens on it, and commands in the folder find it there through its config. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
const port = String(await freePort());

// No server, token or context from the shell running the tests: the folder's config is the target.
const cairn = (args: string[], options: { env?: Record<string, string>; input?: string } = {}) =>
  runCli(args, {
    cwd: directory,
    env: { CAIRN_CLIENT_CONFIG: join(directory, 'client.yaml'), CAIRN_PORT: port, ...options.env },
    unset: ['CAIRN_SERVER', 'CAIRN_TOKEN', 'CAIRN_CONTEXT', 'CAIRN_SANDBOX', 'CAIRN_CONFIG'],
    ...(options.input === undefined ? {} : { input: options.input }),
  });

/** `cairn serve` in the folder, on a free port; resolves with its address once it listens. */
function serve(): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_PORT: port, ...(process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' }) };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, ['--conditions=@cairn/source', cli, '--json', 'serve'], { cwd: directory, env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /"listening":"(http:\/\/[^"]+)"/.exec(output);
      if (listening) resolve(listening[1]!);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (status) => reject(new Error(`cairn serve exited ${status} before it listened:\n${output}`)));
  });
}

test('set before the first start, then the server lists it and an item gets it; while it runs, set goes through it', { timeout: 120_000 }, async () => {
  const { operatorToken } = await initServer(directory);
  const value = 'sk-offline-8c1f0e77b2';

  // No server runs and no token is given: it is set in the folder, and the value is shown nowhere.
  const offline = await cairn(['secret', 'set', 'API_KEY'], { input: `${value}\n` });
  expect(offline.status, offline.stderr).toBe(0);
  expect(offline.stdout).toBe("secret API_KEY set (version 1) directly in the server's folder (no server was running)\n");
  expect(offline.stdout + offline.stderr).not.toContain(value);
  // Sealed by the server's cipher: the value is in no file of the data directory in clear.
  const data = join(directory, 'cairn-data');
  for (const file of readdirSync(data, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile()))
    expect([file.name, readFileSync(join(file.parentPath, file.name)).includes(value)]).toEqual([file.name, false]);

  const server = await serve();
  const client = createCairnClient({ baseUrl: server, token: operatorToken });
  expect(await client.secrets()).toMatchObject([{ name: 'API_KEY', version: 1, updatedBy: expect.stringContaining('operator') }]);
  // A token granted only this secret submits an item that names it: the task gets the value.
  const { token } = await new FileTokenStore(join(data, 'keys', 'tokens.json')).create('submitter', ['runs:submit', 'runs:read', 'secrets:use:API_KEY']);
  const submitter = createCairnClient({ baseUrl: server, token });
  const { runId } = await submitter.submit({
    version: 1,
    name: 'uses-the-offline-secret',
    items: [{ id: 'check', secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', `test "$API_KEY" = ${value}`] } }],
  });
  expect(await submitter.waitForRun(runId)).toMatchObject({ state: 'succeeded' });

  // The server holds the folder now: set goes through it, with the token.
  const online = await cairn(['secret', 'set', 'API_KEY'], { input: `${value}-2\n`, env: { CAIRN_TOKEN: operatorToken } });
  expect(online.status, online.stderr).toBe(0);
  expect(online.stdout).toBe('secret API_KEY set (version 2)\n');
});

test('with PostgreSQL state no replica is bypassed: with none running, set says to start one first (exit 5)', { timeout: 60_000 }, async () => {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-secret-postgres-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  const { configFile } = await initServer(folder);
  const config = parseYaml(readFileSync(configFile, 'utf8')) as { engine?: object };
  // Never connected to: replicas take commands only through the one running the engine.
  writeFileSync(
    configFile,
    stringifyYaml({ ...config, engine: { ...config.engine, state: { kind: 'postgres', host: '127.0.0.1', port: 1, database: 'cairn' } } }),
  );
  const refused = await runCli(['secret', 'set', 'API_KEY'], {
    cwd: folder,
    // A port of its own: the first test's server may still listen on the other.
    env: { CAIRN_CLIENT_CONFIG: join(folder, 'client.yaml'), CAIRN_PORT: String(await freePort()) },
    unset: ['CAIRN_SERVER', 'CAIRN_TOKEN', 'CAIRN_CONTEXT'],
    input: 'sk-never-stored\n',
  });
  expect(refused.status, refused.stderr).toBe(5);
  expect(refused.stderr).toContain('With PostgreSQL state a secret is set through a running replica: start one first (cairn serve)');
  expect(refused.stderr).not.toContain('sk-never-stored');
});
