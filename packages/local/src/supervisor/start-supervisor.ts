import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { CairnError } from '@cairn/protocol';
import { noRoomExitCode } from './no-room.ts';
import type { SupervisorInput } from './supervisor-input.ts';

/**
 * Run from sources only (tests): a bundle of the supervisor made from those same sources for the
 * test run, which `src/testing/supervisor-bundle.test-support.ts` (a vitest global setup) names.
 */
export const supervisorBundleVariable = 'CAIRN_TEST_SUPERVISOR_BUNDLE';

/**
 * The supervisor's entry point: the built one next to the package's `dist/index.js`, or from
 * sources (tests run this file itself, as TypeScript) the test run's bundle of the sources when
 * its global setup made one (a tenth of the modules to load per attempt), else the source entry,
 * which Node runs with its type stripping and the workspace's `@cairn/source` export condition.
 */
function supervisorCommand(): { readonly entry: string; readonly nodeOptions: readonly string[] } {
  const fromSources = import.meta.url.endsWith('.ts');
  if (!fromSources) return { entry: fileURLToPath(new URL('./execution-supervisor.js', import.meta.url)), nodeOptions: [] };
  // The condition stays for the bundle too: a storage module it loads (taskStorage) is a source file.
  const bundle = process.env[supervisorBundleVariable];
  return { entry: bundle || fileURLToPath(new URL('./supervisor-entry.ts', import.meta.url)), nodeOptions: ['--conditions=@cairn/source'] };
}

/** How long a supervisor may take to own its execution before its start is given up. */
const readyTimeoutMs = 30_000;

/**
 * Starts the supervisor of one execution, detached (its own session and process group: a kill of
 * the server, or of the server's whole group, does not reach it), hands it `input` on its stdin
 * and waits until it says on fd 3 that it owns the execution. Its stdout and stderr go to `logFile`.
 * Rejects with CAIRN_EXECUTOR_START_FAILED (the log's last line in the message) if it exits or
 * stays silent first; with an ENOSPC `cause` when it exited for want of room to take the execution
 * over (`noRoomExitCode`).
 */
export async function startSupervisor(input: SupervisorInput, logFile: string): Promise<ChildProcess> {
  const { entry, nodeOptions } = supervisorCommand();
  const log = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...nodeOptions, entry], {
      detached: true,
      stdio: ['pipe', log, log, 'pipe'],
      // Every execution starts a Node process: V8's code cache (where Node keeps it by default)
      // halves what loading the worker costs each one after the first.
      env: { NODE_COMPILE_CACHE: join(tmpdir(), 'node-compile-cache'), ...process.env },
    });
  } finally {
    closeSync(log);
  }
  // Nothing of the server waits on it: a server that exits (or restarts) leaves it running.
  child.unref();
  const failed = (why: string) => {
    const lastLine = lastLogLine(logFile);
    return new CairnError(
      'CAIRN_EXECUTOR_START_FAILED',
      `The supervisor of execution ${input.task.executionId} ${why}${lastLine ? `: ${lastLine}` : ''} (its log: ${logFile}).`,
    );
  };
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(failed(`did not start within ${readyTimeoutMs / 1000} s`));
    }, readyTimeoutMs);
    const settle = (error?: CairnError) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    let said = '';
    const channel = child.stdio[3] as Readable;
    channel.on('data', (chunk: Buffer) => {
      said += chunk.toString('utf8');
      if (said.includes('ready\n')) settle();
    });
    // The exit can be heard before the last of what the supervisor said on fd 3 is read (a short
    // attempt run to its end on a loaded machine): it is judged once that channel has ended, or a
    // second after the exit if a process it started still holds the channel open.
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      const judge = () =>
        settle(
          said.includes('ready\n')
            ? undefined
            : code === noRoomExitCode
              ? new CairnError(
                  'CAIRN_EXECUTOR_START_FAILED',
                  `The supervisor of execution ${input.task.executionId} could not take it over: the disk under the state directory ${input.stateDirectory} is full. Nothing was run; free space there, and the execution is started again.`,
                  { cause: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) },
                )
              : failed(`exited before it started (${signal ?? `exit code ${code}`})`),
        );
      if (channel.readableEnded || channel.destroyed) return judge();
      channel.once('close', judge);
      setTimeout(judge, 1_000).unref();
    };
    child.once('exit', onExit);
    child.once('error', (error) => settle(failed(`could not be spawned (${error.message})`)));
    channel.on('error', () => {});
  });
  child.stdin!.on('error', () => {});
  child.stdin!.end(JSON.stringify(input));
  await ready;
  (child.stdio[3] as { unref?: () => void }).unref?.();
  return child;
}

function lastLogLine(logFile: string): string | undefined {
  try {
    const lines = readFileSync(logFile, 'utf8').trim().split('\n');
    return lines.at(-1)?.slice(0, 2_000) || undefined;
  } catch {
    return undefined;
  }
}
