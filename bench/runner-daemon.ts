// A `cairn runner` daemon as users start one (the CLI of @cairn/server's dist), in a process of its
// own on this host, dialing a bench server with a `runners:run` token.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { engineNodeFlags } from '@cairn/engine';
import { removeWithMounts } from '@cairn/local';
import type { RunnersServer } from './runners-server.ts';

export interface RunnerDaemon {
  /** What it printed (its log lines), for a failure's message. */
  output(): string;
  /** SIGTERM (a drain of `--drain-grace 1`), then waits for it to exit. */
  stop(): Promise<void>;
}

const cli = join(dirname(createRequire(import.meta.url).resolve('@cairn/server/package.json')), 'dist', 'cli.js');

/** Starts `cairn runner --slots <slots>` as `name` and resolves once the server's book has seen its first poll. */
export async function startRunnerDaemon(
  server: RunnersServer,
  name: string,
  options: { readonly slots: number; readonly sandboxUids: number },
): Promise<RunnerDaemon> {
  const token = await server.runnerToken(name);
  const root = mkdtempSync(join(tmpdir(), 'cairn-bench-runner-'));
  // Sandboxes start as their own uids and must pass through to their workspaces.
  chmodSync(root, 0o711);
  const keyFile = join(root, 'server-key.json');
  writeFileSync(keyFile, JSON.stringify(server.composition.signingKey));
  const child = spawn(
    process.execPath,
    [
      ...engineNodeFlags,
      cli,
      'runner',
      '--server',
      server.base,
      '--slots',
      String(options.slots),
      '--work-root',
      join(root, 'work'),
      '--state-directory',
      join(root, 'state'),
      '--trusted-key-file',
      keyFile,
      '--sandbox-uids',
      String(options.sandboxUids),
      '--drain-grace',
      '1',
    ],
    { env: { ...process.env, CAIRN_RUNNER_TOKEN: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const book = server.composition.runners!;
  for (const started = Date.now(); !book.runners().some((runner) => runner.held >= 0 && runner.slots === options.slots); await sleep(20)) {
    if (child.exitCode !== null) throw new Error(`cairn runner exited ${child.exitCode}: ${output}`);
    if (Date.now() - started > 30_000) throw new Error(`cairn runner did not poll within 30 s: ${output}`);
  }
  return {
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      removeWithMounts(root);
    },
  };
}
