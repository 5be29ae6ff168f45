// `cairn init` + `cairn serve` of the built CLI, as a user starts them: the starter config (local
// executor, bubblewrap sandboxes, local storage), no CAIRN_* setting from this process's
// environment, listening on a random loopback port.
import { execFileSync, spawn } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCairnClient } from '@cairn/client';
import { engineNodeFlags } from '@cairn/engine';
import { removeWithMounts } from '@cairn/local';

/** The built CLI (`pnpm -r build` first), as `cairn` on a user's PATH runs it. */
export const builtCli = join(dirname(fileURLToPath(import.meta.url)), '..', 'apps', 'server', 'dist', 'cli.js');

export interface ServedCairn {
  /** Its folder (`cairn init`'s). */
  readonly directory: string;
  readonly base: string;
  readonly token: string;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 30 s) and removes its folder, mounts and all. */
  stop(): Promise<void>;
}

/**
 * Initialises `directory` (made, 0711 as `cairn init` wants its parents: sandboxes run as their own
 * uids) and serves it, the server started under `launcher` (a command that execs the rest).
 */
export async function startServedCairn(directory: string, launcher: readonly string[], options: { readonly runners?: boolean } = {}): Promise<ServedCairn> {
  mkdirSync(directory, { recursive: true });
  chmodSync(directory, 0o711);
  const env = userEnvironment();
  const init = JSON.parse(execFileSync(process.execPath, [builtCli, '--json', 'init'], { cwd: directory, env, encoding: 'utf8' })) as { operatorToken: string };
  const config = readFileSync(join(directory, 'cairn.config.yaml'), 'utf8');
  if (!/^\s*kind: local\b/m.test(config) || !/^\s*sandbox: bubblewrap\b/m.test(config))
    throw new Error(`cairn init no longer writes a local executor with bubblewrap sandboxes, which this benchmark measures:\n${config}`);
  // As docs/operations/runners.md enables them.
  if (options.runners === true) appendFileSync(join(directory, 'cairn.config.yaml'), 'runners:\n  enabled: true\n  leaseSeconds: 30\n');
  const [command, ...args] = [...launcher, process.execPath, ...engineNodeFlags, builtCli, '--json', 'serve'];
  const server = spawn(command!, args, { cwd: directory, env: { ...env, CAIRN_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-8_000)));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    server.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { listening: string }).listening);
      // Drained from here on: a full pipe would stall the server.
      if (stdout.length > 100_000) stdout = stdout.slice(-1_000);
    });
    server.once('exit', (code) => reject(new Error(`cairn serve exited (${code}) before listening: ${stderr}`)));
  });
  return {
    directory,
    base,
    token: init.operatorToken,
    pid: server.pid!,
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill('SIGTERM');
        const killer = setTimeout(() => server.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(killer);
      }
      removeWithMounts(directory);
    },
  };
}

/** This process's environment without CAIRN_* settings or NODE_OPTIONS: what a user's shell gives `cairn`. */
function userEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !name.startsWith('CAIRN_') && name !== 'NODE_OPTIONS') env[name] = value;
  return env;
}

export interface ServedRunner {
  /** SIGTERM (a drain of `--drain-grace 1`), then waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * A `cairn runner` of the built CLI for a served cairn started with `runners: true`, as
 * docs/operations/runners.md sets one up (a `runners:run` token from `cairn token create`, the
 * server's public key in a PEM file), started under `launcher` with its work root in `directory`;
 * resolves once the server lists it.
 */
export async function startServedRunner(
  served: ServedCairn,
  directory: string,
  launcher: readonly string[],
  options: { readonly slots: number; readonly forkServer?: boolean },
): Promise<ServedRunner> {
  const env = userEnvironment();
  mkdirSync(directory, { recursive: true });
  chmodSync(directory, 0o711);
  const created = JSON.parse(
    execFileSync(process.execPath, [builtCli, '--json', 'token', 'create', '--name', 'bench-runner', '--scope', 'runners:run'], {
      cwd: served.directory,
      env,
      encoding: 'utf8',
    }),
  ) as { token: string };
  const keyFile = join(directory, 'server-signing-key.pem');
  const publicKey = createPublicKey(readFileSync(join(served.directory, 'cairn-data', 'keys', 'signing.pem'))).export({ type: 'spki', format: 'pem' });
  writeFileSync(keyFile, publicKey);
  const argv = [
    ...[...launcher, process.execPath, ...engineNodeFlags, builtCli, 'runner'],
    ...['--server', served.base, '--slots', String(options.slots), '--trusted-key-file', keyFile],
    ...['--work-root', join(directory, 'work'), '--state-directory', join(directory, 'state'), '--drain-grace', '1'],
    ...(options.forkServer === false ? ['--no-fork-server'] : []),
  ];
  const runner = spawn(argv[0]!, argv.slice(1), { env: { ...env, CAIRN_RUNNER_TOKEN: created.token }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  runner.stderr.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString()}`.slice(-8_000)));
  const exited = new Promise<void>((resolve) => runner.once('exit', () => resolve()));
  const client = createCairnClient({ baseUrl: served.base, token: served.token });
  for (const started = Date.now(); (await client.runners()).length === 0; await sleep(50)) {
    if (runner.exitCode !== null) throw new Error(`cairn runner exited ${runner.exitCode}: ${stderr}`);
    if (Date.now() - started > 30_000) throw new Error(`cairn runner did not poll within 30 s: ${stderr}`);
  }
  return {
    async stop() {
      if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGTERM');
      await exited;
      removeWithMounts(directory);
    },
  };
}
