import { spawn } from 'node:child_process';
import { installedProcessLauncher } from './process-launcher.ts';

/** Where git works: a git directory kept outside the work tree, or (for snapshots) a directory inside a user's repository. */
export type GitLocation = { readonly gitDirectory: string; readonly workTree: string } | { readonly cwd: string };

export interface GitRunOptions {
  /** Bytes fed to git's standard input. */
  readonly input?: Uint8Array;
  /** An open file git's standard output goes to (not kept: `stdout` is then empty), for output too large to hold. */
  readonly outputFile?: number;
  /** Stop git and report `overflowed` once its standard output passes this many bytes. */
  readonly maxOutputBytes?: number;
  /**
   * Variables added to git's cleared environment, after the defaults (so a caller may set its own
   * commit identity and time, or hand a credential helper its secret without a command line).
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Stops git (SIGKILL) when aborted; the promise then rejects with the signal's AbortError. */
  readonly signal?: AbortSignal;
}

export interface GitRunResult {
  readonly exitCode: number | null;
  readonly stdout: Buffer;
  /** The first 16 KiB of standard error, trimmed. */
  readonly stderr: string;
  /** True when standard output passed `maxOutputBytes` and git was stopped. */
  readonly overflowed: boolean;
}

const stderrLimit = 16 * 1024;

/**
 * Settings passed on every command line, so that nothing read from disk changes what git does: no
 * hooks, no fsmonitor command, no line-ending or path-case rewriting, paths checked as strictly as
 * on Windows and macOS (the patch is applied on the user's machine, whatever it runs), a fixed
 * identity and no signing or background maintenance.
 */
const hardening = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.autocrlf=false',
  'core.safecrlf=false',
  'core.symlinks=true',
  'core.fileMode=true',
  'core.ignoreCase=false',
  'core.precomposeUnicode=false',
  'core.untrackedCache=false',
  'core.protectNTFS=true',
  'core.protectHFS=true',
  'core.quotePath=false',
  'gc.auto=0',
  'maintenance.auto=false',
  'commit.gpgSign=false',
  'advice.addEmbeddedRepo=false',
  'init.defaultBranch=cairn',
  'user.name=Cairn worker',
  'user.email=worker@cairn.invalid',
].flatMap((setting) => ['-c', setting]);

/**
 * Runs git with a cleared environment: no global or system configuration, no inherited `GIT_*`
 * variables (a stray GIT_INDEX_FILE would point git elsewhere), fixed commit times so that the
 * baseline of one snapshot is always the same commit, and C messages so errors read the same
 * everywhere. Resolves with the exit code; callers decide what a failure means.
 */
export function runGit(location: GitLocation, args: readonly string[], options: GitRunOptions = {}): Promise<GitRunResult> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    LC_ALL: 'C',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_DATE: '@0 +0000',
    GIT_COMMITTER_DATE: '@0 +0000',
    ...options.env,
  };
  if ('gitDirectory' in location) {
    env['GIT_DIR'] = location.gitDirectory;
    env['GIT_WORK_TREE'] = location.workTree;
  }
  const cwd = 'gitDirectory' in location ? location.workTree : location.cwd;
  const launcher = installedProcessLauncher();
  const { maxOutputBytes } = options;
  if (launcher !== undefined && options.outputFile === undefined && (maxOutputBytes === undefined || launcher.capsOutput === true)) {
    return launcher
      .launch({
        argv: ['git', ...hardening, ...args],
        cwd,
        env,
        ...(options.input ? { input: options.input } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(maxOutputBytes === undefined ? {} : { maxOutputBytes }),
      })
      .then(({ exitCode, stdout, stderr }) => {
        // As below: past the limit, nothing of the output is handed back.
        const overflowed = maxOutputBytes !== undefined && stdout.byteLength > maxOutputBytes;
        return { exitCode, stdout: overflowed ? Buffer.alloc(0) : stdout, stderr: stderr.toString('utf8', 0, stderrLimit).trim(), overflowed };
      });
  }
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...hardening, ...args], {
      cwd,
      env,
      stdio: [options.input ? 'pipe' : 'ignore', options.outputFile ?? 'pipe', 'pipe'],
      ...(options.signal ? { signal: options.signal, killSignal: 'SIGKILL' as const } : {}),
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let overflowed = false;
    const stderr: Buffer[] = [];
    let stderrBytes = 0;
    child.stdout?.on('data', (chunk: Buffer) => {
      if (overflowed) return;
      stdoutBytes += chunk.byteLength;
      if (options.maxOutputBytes !== undefined && stdoutBytes > options.maxOutputBytes) {
        overflowed = true;
        stdout.length = 0;
        child.kill('SIGKILL');
        return;
      }
      stdout.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderrBytes < stderrLimit) stderr.push(chunk);
      stderrBytes += chunk.byteLength;
    });
    child.on('error', reject);
    child.on('close', (exitCode) => {
      resolve({ exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8').slice(0, stderrLimit).trim(), overflowed });
    });
    if (options.input && child.stdin) {
      // git may exit before reading everything (a patch it refuses early): that is not an error here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** Runs git and returns its standard output; throws an Error quoting git's message when it fails. */
export async function gitOutput(location: GitLocation, args: readonly string[], options: GitRunOptions = {}): Promise<Buffer> {
  const result = await runGit(location, args, options);
  if (result.exitCode !== 0) throw new Error(`git ${args[0]} failed (exit ${result.exitCode}): ${result.stderr || 'no message'}`);
  return result.stdout;
}
