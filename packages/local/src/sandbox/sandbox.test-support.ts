import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bubblewrapCommand, type SandboxGateway, type SandboxLimits } from './bubblewrap-command.ts';

/** Limits the escape tests run under: what the local executor uses by default. */
export const testLimits: SandboxLimits = { processes: 64, openFiles: 256, cpuSeconds: 60, fileBytes: 64 * 1024 * 1024, addressSpaceBytes: 4 * 1024 ** 3 };

let nextUid = 210_000 + (process.pid % 1_000) * 40;
/** A uid no other test sandbox uses. */
export function freshUid(): number {
  return nextUid++;
}

/** A workspace directory owned by `uid`, removed by `cleanUp`. */
export function workspaceFor(uid: number, directories: string[]): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-sandbox-'));
  directories.push(directory);
  chownSync(directory, uid, uid);
  return directory;
}

export function cleanUp(directories: string[]): void {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
}

/** Runs argv in a sandbox; resolves with its exit code and output (killed after `timeoutMs`). */
export function runSandboxed(
  argv: string[],
  options: { workspace: string; uid: number; network?: boolean; env?: Record<string, string>; timeoutMs?: number; gateway?: SandboxGateway },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args, env } = bubblewrapCommand(argv, {
    workspace: options.workspace,
    uid: options.uid,
    env: options.env ?? { PATH: '/usr/bin:/bin', HOME: '/workspace' },
    network: options.network ?? false,
    limits: testLimits,
    ...(options.gateway ? { gateway: options.gateway } : {}),
  });
  return runLaunch({ command, args, env }, options.timeoutMs);
}

/**
 * Runs a sandbox command line (bubblewrapCommand's, or a launcher's) as the command runtime does:
 * detached, with a pipe on fd 3; resolves with its exit code and output (its group killed after
 * `timeoutMs`). `started` is given the reaper's pid.
 */
export function runLaunch(
  launch: { readonly command: string; readonly args: readonly string[]; readonly env?: Readonly<Record<string, string>> },
  timeoutMs = 15_000,
  started?: (pid: number) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(launch.command, launch.args, {
      env: launch.env ?? { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    started?.(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Pids of live processes whose real uid is one of `uids` (read from /proc, from outside). */
export function processesOf(uids: readonly number[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const zombie = /^State:\s+Z/m.test(status);
      if (uids.includes(uid) && !zombie) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
