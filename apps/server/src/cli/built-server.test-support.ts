import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeWithMounts } from '@cairn/local';
import { afterEach, beforeAll, expect } from 'vitest';
import { runCli, type CliResult } from './run-cli.test-support.ts';

/** The built CLI, as a user gets it (`pnpm --filter @cairn/server build` first). */
export const builtCli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');
// Sandboxes need root for their uids; elsewhere tasks run unsandboxed, as in every server test.
const sandboxEnv: Record<string, string> = process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' };

/**
 * End-to-end tests of the built `cairn`: `cairn(cwd, args, env)` runs a command, `initialised()`
 * makes a fresh folder with `cairn init` done, `serve(directory)` starts `cairn serve` there on a
 * random loopback port. `baseEnv` (e.g. S3 credentials) goes to every process; everything started
 * is stopped and removed after each test. Call it at the top of a test file.
 */
export function useBuiltServer(baseEnv: () => Record<string, string> = () => ({})) {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });
  beforeAll(() => {
    if (!existsSync(builtCli)) throw new Error(`${builtCli} is missing: build it with \`pnpm --filter @cairn/server build\` before this test.`);
  });
  const env = (extra: Record<string, string>) => ({ ...sandboxEnv, ...baseEnv(), ...extra });
  /** The whole environment of a spawned process: this one's, `env`'s and `extra`, without the slow CA bundle. */
  const childEnv = (extra: Record<string, string> = {}): Record<string, string> => {
    const all: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...process.env, ...env(extra) })) if (value !== undefined && name !== 'NODE_EXTRA_CA_CERTS') all[name] = value;
    return all;
  };

  /** `cairn ...args` in `cwd` (with `input` on its stdin); resolves when it exits. */
  const cairn = (cwd: string, args: string[], extra: Record<string, string> = {}, input?: string): Promise<CliResult> =>
    runCli(args, { cwd, env: env(extra), built: true, ...(input === undefined ? {} : { input }) });

  /** A fresh folder with `cairn init` done in it: its config, keys and operator token. */
  const initialised = async (): Promise<{ directory: string; keyId: string; token: string }> => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-e2e-'));
    // After the server is killed (cleanups run last first): an attempt still running keeps its
    // workspace and /tmp mounted (tasks outlive their server).
    cleanups.push(() => {
      removeWithMounts(directory);
    });
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(directory, 0o711);
    const init = await cairn(directory, ['--json', 'init']);
    expect(init.status, init.stderr).toBe(0);
    const { keyId, operatorToken } = JSON.parse(init.stdout) as { keyId: string; operatorToken: string };
    return { directory, keyId, token: operatorToken };
  };

  /**
   * `cairn --json serve` on a random loopback port (CAIRN_PORT=0); resolves with its address once it
   * listens. `launcher` runs it under another command first (e.g. `prlimit --nofile=256:256 --`).
   */
  const serve = (directory: string, launcher: readonly string[] = []): Promise<{ base: string; server: ChildProcess }> => {
    const [command, ...args] = [...launcher, process.execPath, builtCli, '--json', 'serve'];
    const server = spawn(command!, args, {
      cwd: directory,
      env: childEnv({ CAIRN_PORT: '0' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(() => void server.kill('SIGKILL'));
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      server.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      server.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
        if (line) resolve({ base: (JSON.parse(line) as { listening: string }).listening, server });
      });
      server.on('exit', (code) => reject(new Error(`cairn serve exited (${code}) before listening: ${stderr}`)));
    });
  };

  return { cairn, initialised, serve, childEnv, cleanups };
}
