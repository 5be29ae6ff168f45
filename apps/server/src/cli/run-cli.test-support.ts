import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  /** The folder it runs in (default: the system's temporary folder). */
  readonly cwd?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Names removed from the inherited environment (unless `env` sets them). */
  readonly unset?: readonly string[];
  /** Written to its stdin, which is then closed (closed at once without it). */
  readonly input?: string;
  /** Sees stdout so far, each time more arrives. */
  readonly onStdout?: (stdout: string) => void;
  /** Runs the built `dist/cli.js`, as a user gets it, instead of the source. */
  readonly built?: boolean;
}

const cliDirectory = dirname(fileURLToPath(import.meta.url));

/**
 * Runs `cairn` as a user would: a child process, so that a server in the test's own process keeps
 * answering. The machine-wide extra CA bundle is left out (it costs ~60 ms per start; tests reach
 * only loopback).
 */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliResult> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of ['NODE_EXTRA_CA_CERTS', ...(options.unset ?? [])]) delete env[name];
  Object.assign(env, options.env);
  const entry = options.built ? [join(cliDirectory, '..', '..', 'dist', 'cli.js')] : ['--conditions=@cairn/source', join(cliDirectory, 'cli.ts')];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...entry, ...args], { cwd: options.cwd ?? tmpdir(), env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}
