// `cairn serve` (the built CLI) under what an outside battery threw at it: a second server on the
// same data directory, a public bind with no token, silent and half-sent connections, and a stop
// while a silent socket, a half-sent body and an event stream are open.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { initServer } from './init-server.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build it with \`pnpm --filter @cairn/server build\` first.`);
});

async function serverDirectory(server: Record<string, unknown> = {}): Promise<{ directory: string; operatorToken: string }> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-serve-faults-'));
  chmodSync(directory, 0o711);
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const { operatorToken } = await initServer(directory);
  const file = join(directory, 'cairn.config.yaml');
  const config = parse(readFileSync(file, 'utf8')) as { server?: Record<string, unknown> };
  writeFileSync(file, stringify({ ...config, server: { ...config.server, port: 0, ...server } }));
  return { directory, operatorToken };
}

interface Serving {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** `cairn serve` in `directory`; resolves with its address once it listens, or with its exit. */
function serve(directory: string): Promise<Serving & { address?: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' }) };
  delete env['NODE_EXTRA_CA_CERTS'];
  const child = spawn(process.execPath, [cli, 'serve'], { cwd: directory, env, stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const serving: Serving = { child, exited, output: () => output };
  return new Promise((resolve) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /cairn serving (http:\/\/\S+)/.exec(output);
      if (listening) resolve({ ...serving, address: listening[1]! });
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then(() => resolve(serving));
  });
}

test(
  "a second cairn serve on one data directory refuses, naming the first one's pid; after a kill -9 of the first, a new one starts",
  { timeout: 60_000 },
  async () => {
    const { directory } = await serverDirectory();
    const first = await serve(directory);
    expect(first.address).toBeDefined();
    const second = await serve(directory);
    expect(await second.exited).toBe(3);
    expect(second.output()).toMatch(/^CAIRN_LOCK_HELD: The data directory \S+ is in use by another cairn serve/m);
    expect(second.output()).toContain(`is in use by another cairn serve (pid ${first.child.pid})`);
    first.child.kill('SIGKILL');
    await first.exited;
    const third = await serve(directory);
    expect(third.address, third.output()).toBeDefined();
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  },
);

test(
  'bound off loopback with auth: tokens and no token, it refuses to start and says cairn token create; with one, it prints the address it really bound',
  { timeout: 60_000 },
  async () => {
    const { directory } = await serverDirectory({ host: '0.0.0.0' });
    const tokens = join(directory, 'cairn-data', 'keys', 'tokens.json');
    const kept = readFileSync(tokens, 'utf8');
    writeFileSync(tokens, '{"tokens":[]}\n');
    const refused = await serve(directory);
    expect(await refused.exited).toBe(2);
    expect(refused.output()).toContain('cairn token create');
    writeFileSync(tokens, kept);
    const started = await serve(directory);
    expect(started.address).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  },
);

test('silent and half-sent connections are closed after their timeouts; event streams are not', { timeout: 60_000 }, async () => {
  const { directory, operatorToken } = await serverDirectory({ timeouts: { idle: '1s', headers: '1s', request: '2s', keepAlive: '1s', shutdownGrace: '2s' } });
  const server = await serve(directory);
  const { hostname, port } = new URL(server.address!);
  const closedWithin = (send: string) =>
    new Promise<number>((resolve) => {
      const started = Date.now();
      const socket = connect(Number(port), hostname, () => socket.write(send));
      socket.on('close', () => resolve(Date.now() - started));
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
    });
  const [silent, halfHeaders] = await Promise.all([closedWithin(''), closedWithin('GET /healthz HTTP/1.1\r\nHost: x\r\n')]);
  expect(silent).toBeLessThan(5_000);
  expect(halfHeaders).toBeLessThan(5_000);
  // An event stream with nothing to say stays open past the idle timeout.
  const controller = new AbortController();
  cleanups.push(() => controller.abort());
  const stream = await fetch(`${server.address}/v1/events`, { headers: { authorization: `Bearer ${operatorToken}` }, signal: controller.signal });
  const reader = stream.body!.getReader();
  await reader.read();
  const still = await Promise.race([reader.read().then(() => 'data'), new Promise((resolve) => setTimeout(() => resolve('open'), 3_000))]);
  expect(['open', 'data']).toContain(still);
  expect((await fetch(`${server.address}/healthz`)).status).toBe(200);
  controller.abort();
});

test(
  'SIGTERM with a silent socket, a half-sent body and an event stream open: the server drains within its grace and exits 0',
  { timeout: 60_000 },
  async () => {
    const { directory, operatorToken } = await serverDirectory({
      timeouts: { idle: '60s', headers: '30s', request: '60s', keepAlive: '5s', shutdownGrace: '2s' },
    });
    const server = await serve(directory);
    const { hostname, port } = new URL(server.address!);
    const open = (send: string) => {
      const socket = connect(Number(port), hostname, () => socket.write(send));
      socket.on('error', () => {});
      cleanups.push(() => socket.destroy());
    };
    open('');
    open(
      `POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${operatorToken}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"version":`,
    );
    const controller = new AbortController();
    cleanups.push(() => controller.abort());
    const stream = await fetch(`${server.address}/v1/events`, { headers: { authorization: `Bearer ${operatorToken}` }, signal: controller.signal });
    await stream.body!.getReader().read();
    const stopped = Date.now();
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(8_000);
  },
);
