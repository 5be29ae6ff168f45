// `cairn init` + `cairn serve` of the built CLI, as a user starts them: the starter config (local
// executor, bubblewrap sandboxes, local storage), no CAIRN_* setting from this process's
// environment, listening on a random loopback port.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineNodeFlags } from '@cairn/engine';
import { removeWithMounts } from '@cairn/local';

/** The built CLI (`pnpm -r build` first), as `cairn` on a user's PATH runs it. */
export const builtCli = join(dirname(fileURLToPath(import.meta.url)), '..', 'apps', 'server', 'dist', 'cli.js');

export interface ServedCairn {
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
export async function startServedCairn(directory: string, launcher: readonly string[]): Promise<ServedCairn> {
  mkdirSync(directory, { recursive: true });
  chmodSync(directory, 0o711);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !name.startsWith('CAIRN_') && name !== 'NODE_OPTIONS') env[name] = value;
  const init = JSON.parse(execFileSync(process.execPath, [builtCli, '--json', 'init'], { cwd: directory, env, encoding: 'utf8' })) as { operatorToken: string };
  const config = readFileSync(join(directory, 'cairn.config.yaml'), 'utf8');
  if (!/^\s*kind: local\b/m.test(config) || !/^\s*sandbox: bubblewrap\b/m.test(config))
    throw new Error(`cairn init no longer writes a local executor with bubblewrap sandboxes, which this benchmark measures:\n${config}`);
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
