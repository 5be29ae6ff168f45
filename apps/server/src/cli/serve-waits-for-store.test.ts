// `cairn serve` started before its PostgreSQL (podman-compose 1.0 ignores depends_on conditions):
// it waits, saying for what and how long, and serves once the database answers; a database that
// never answers within server.timeouts.storeWait stops it with the refusal and the setting to raise.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { createTestDatabase, type TestDatabase } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { initServer } from './init-server.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A free loopback port: one just bound and let go. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** From `port`, once started, every connection forwarded to the test database: PostgreSQL coming up late. */
function lateDatabase(port: number, database: TestDatabase): { start(): Promise<void> } {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    if (server) await new Promise((resolve) => server!.close(resolve));
  });
  return {
    start: () =>
      new Promise<void>((resolve) => {
        server = createServer((inbound) => {
          const outbound = connect(database.settings.port, database.settings.host);
          for (const socket of [inbound, outbound]) {
            sockets.add(socket);
            socket.on('error', () => {
              inbound.destroy();
              outbound.destroy();
            });
          }
          inbound.pipe(outbound).pipe(inbound);
        });
        server.listen(port, '127.0.0.1', resolve);
      }),
  };
}

async function serverOn(port: number, database: TestDatabase, storeWait: string): Promise<string> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-store-wait-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  await initServer(directory);
  const file = join(directory, 'cairn.config.yaml');
  const config = parse(readFileSync(file, 'utf8')) as { server?: Record<string, unknown>; engine?: Record<string, unknown> };
  const { user, password, database: name } = database.settings;
  config.server = { ...config.server, port: 0, timeouts: { storeWait } };
  config.engine = { ...config.engine, state: { kind: 'postgres', host: '127.0.0.1', port, user, password, database: name } };
  writeFileSync(file, stringify(config));
  return directory;
}

/** `cairn serve` from source in `directory`: its output so far, and its exit. */
function serve(directory: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_SANDBOX: 'none' };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, ['--conditions=@cairn/source', join(import.meta.dirname, 'cli.ts'), 'serve'], { cwd: directory, env });
  cleanups.push(() => void child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const until = async (pattern: RegExp, ms: number) => {
    for (const started = Date.now(); Date.now() - started < ms; await new Promise((resolve) => setTimeout(resolve, 100))) if (pattern.test(output)) return true;
    return false;
  };
  return { output: () => output, exited, until };
}

test('started before its database, the server says what it waits for, then serves once the database answers', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const port = await freePort();
  const late = lateDatabase(port, database);
  const server = serve(await serverOn(port, database, '60s'));
  expect(await server.until(/waiting for the server's store to answer: .*PostgreSQL at 127\.0\.0\.1:\d+.*ECONNREFUSED/, 60_000), server.output()).toBe(true);
  await late.start();
  expect(await server.until(/cairn serving http:\/\/\S+/, 60_000), server.output()).toBe(true);
});

test('a database that never answers within storeWait stops the server with its refusal, the wait and the setting', { timeout: 120_000 }, async () => {
  const database = await createTestDatabase();
  cleanups.push(() => database.drop());
  const server = serve(await serverOn(await freePort(), database, '2s'));
  expect(await server.exited, server.output()).toBe(3);
  expect(server.output()).toContain('CAIRN_STATE_UNAVAILABLE');
  expect(server.output()).toMatch(/the server waited [23] s for it to answer: server\.timeouts\.storeWait\)/);
});
