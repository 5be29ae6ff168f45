// A reader's shell for the docs tests: the ```sh blocks of a page, run by bash as written.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from './workspace.ts';

/** The ```sh blocks of a page of the repository, in order. */
export function shellBlocks(page: string): string[] {
  const text = readFileSync(join(repositoryRoot, page), 'utf8');
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);
}

/**
 * Runs a block with bash -euo pipefail from the checkout, in a process group of its own (what it
 * leaves running in the background goes with it). One still running after `deadlineMs` is
 * killed, its output kept. `onOutput` sees the output so far as it grows: what a reader does
 * while a command waits for them (approving a sign-in in a browser) happens there.
 */
export function runReaderBlock(
  block: string,
  env: NodeJS.ProcessEnv,
  options: { readonly deadlineMs?: number; readonly onOutput?: (output: string) => void } = {},
): Promise<{ status: number | null; output: string }> {
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', block], { cwd: repositoryRoot, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const read = (chunk: Buffer) => {
    output += chunk.toString();
    options.onOutput?.(output);
  };
  shell.stdout.on('data', read);
  shell.stderr.on('data', read);
  const killGroup = () => {
    try {
      process.kill(-shell.pid!, 'SIGKILL');
    } catch {
      // The group has ended already.
    }
  };
  const deadlineMs = options.deadlineMs ?? 150_000;
  const deadline = setTimeout(() => {
    output += `\n(killed after ${deadlineMs} ms)`;
    killGroup();
  }, deadlineMs);
  return new Promise((resolve) =>
    shell.on('close', (status) => {
      clearTimeout(deadline);
      killGroup();
      resolve({ status, output });
    }),
  );
}
