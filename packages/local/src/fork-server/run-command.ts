import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { installedProcessLauncher } from '@cairn/protocol/workspace';

const execFileAsync = promisify(execFile);

/**
 * Runs a command to its end as `execFile` does (resolves with its output; rejects when it cannot
 * start, or exits non-zero, with `code`, `signal`, `stdout` and `stderr` on the error), through the
 * process launcher installed in this process when there is one (a runner's fork server).
 */
export async function runCommand(
  file: string,
  args: readonly string[],
  options: { readonly env: Readonly<Record<string, string>> },
): Promise<{ readonly stdout: string; readonly stderr: string }> {
  const launcher = installedProcessLauncher();
  if (launcher === undefined) return execFileAsync(file, args, { env: options.env });
  const ended = await launcher.launch({ argv: [file, ...args], cwd: '/', env: options.env });
  const stdout = ended.stdout.toString('utf8');
  const stderr = ended.stderr.toString('utf8');
  if (ended.exitCode === 0) return { stdout, stderr };
  throw Object.assign(new Error(`Command failed: ${[file, ...args].join(' ')}\n${stderr}`), { code: ended.exitCode, signal: ended.signal, stdout, stderr });
}
