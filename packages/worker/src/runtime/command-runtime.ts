import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import type { RuntimeAdapterV1, RuntimeInvocation, RuntimeResult } from '@cairn/core';
import { CairnError, parseSettings } from '@cairn/protocol';
import { installedProcessLauncher, type LiveProcess } from '@cairn/protocol/workspace';
import { z } from 'zod';

/** What a `launch` hook is told about the run it wraps. */
export interface CommandLaunchContext {
  /** The workspace, the process's working directory. */
  readonly workspace: string;
  /** The complete environment of the command. */
  readonly env: Readonly<Record<string, string>>;
  /** Whether the attempt may use the network (the manifest's `limits.network`). */
  readonly network: boolean;
  /**
   * The model gateway's door for this attempt (ADR 0033): the worker's forwarder listens on the
   * Unix socket `socket` (and on 127.0.0.1:`port` only when the worker shares its network with an
   * unsandboxed runtime); a sandbox with a network namespace of its own makes `127.0.0.1:port`
   * inside lead to the socket. Absent when the attempt has no gateway.
   */
  readonly gateway?: { readonly port: number; readonly socket: string };
  /**
   * The attempt's egress proxy, for a network that is an allow-list (ADR 0049; `network` is then
   * false): a door as the gateway's, the proxy's only way in, and the only way out a launch may
   * leave the command. `trustBundle` is a host file of the CAs the command must trust (the
   * system's, and the attempt's own for the hosts whose credentials the proxy brokers). A launch
   * that cannot confine the command to the proxy must refuse it, never run it with a network.
   */
  readonly egress?: { readonly port: number; readonly socket: string; readonly trustBundle?: string };
}

/** The process a `launch` hook asks for instead of `argv` itself. */
export interface CommandLaunch {
  readonly command: string;
  readonly args: readonly string[];
  /**
   * Give the process a pipe on fd 3 and close this end once the process has exited or, on abort,
   * once it has been killed: a wrapper (the bubblewrap sandbox) reads it to kill what it started
   * when the worker goes away.
   */
  readonly lifeline?: boolean;
  /**
   * The environment the launched process gets, in place of the command's: a wrapper that hands the
   * command its environment itself (bubblewrap's --setenv) keeps the values out of its own.
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The user and group the process runs as, when not the worker's own: a worker running as root
   * (the Fargate task's) starts the runtime as an unprivileged user, so the runtime cannot read the
   * worker's process (its environment, its memory). Supplementary groups are cleared with them.
   */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Asked once the process has exited (and its output was read), whatever ended it: the limit of the
   * wrapper's that ended it, as the failure to report (the sandbox's memory cgroup killed a process
   * of it: CAIRN_ATTEMPT_MEMORY_EXCEEDED); undefined when none did. Called every time, so the wrapper
   * can drop what it kept for the answer. Its answer is the run's `limitReached`.
   */
  readonly limitReached?: (ended: { readonly exitCode: number | null; readonly signal: string | null }) => CairnError | undefined;
}

/**
 * A command run's result: RuntimeResult V1 and, when the launch hook's limit ended the process, that
 * failure (not in RuntimeResult V1 yet: the worker reads it where a runtime returns it).
 */
export interface CommandRunResult extends RuntimeResult {
  readonly limitReached?: CairnError;
}

/** Wraps the command in another process (a sandbox); returns what to spawn. */
export type CommandLauncher = (argv: readonly string[], context: CommandLaunchContext) => CommandLaunch;

/**
 * How a runtime spawns its processes, shared by every runtime that spawns through CommandRuntime:
 * `launch` wraps each process (the LocalExecutor puts bubblewrap around it; by default argv is
 * spawned as it is), and `killGraceMs` is how long a process group has between SIGTERM and SIGKILL
 * after an abort.
 */
export const processLaunchSettings = {
  launch: z
    .custom<CommandLauncher>((value) => typeof value === 'function', 'must be a function (argv, { workspace, env, network }) => { command, args }')
    .optional(),
  killGraceMs: z.int().min(0).max(60_000).default(1_000),
};

/** Settings of `createCommandRuntime`, checked at construction. */
export const commandRuntimeSettingsSchema = z.strictObject({ ...processLaunchSettings });

export type CommandRuntimeSettings = z.input<typeof commandRuntimeSettingsSchema>;

/**
 * Runs a `command` runtime spec: `argv` with no shell, in the workspace, with exactly the given
 * environment, in a process group of its own (spawned detached). On abort the whole group gets
 * SIGTERM and, `killGraceMs` later, SIGKILL, and the run resolves with `aborted: true`; when the
 * command exits by itself, whatever it left running in its group is killed too, so nothing outlives
 * the run. Rejects with CAIRN_RUNTIME_FAILED when `argv[0]` cannot be started.
 */
export class CommandRuntime implements RuntimeAdapterV1 {
  readonly specificationVersion = 'v1';
  readonly kind = 'command';
  readonly #settings: z.output<typeof commandRuntimeSettingsSchema>;

  constructor(settings: CommandRuntimeSettings = {}) {
    this.#settings = parseSettings(commandRuntimeSettingsSchema, settings, 'worker.commandRuntime');
  }

  async run(invocation: RuntimeInvocation): Promise<CommandRunResult> {
    const { spec, workspace, env, signal, sinks } = invocation;
    if (spec.kind !== 'command') {
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The command runtime runs only command specs, not a${spec.kind === 'agent' ? `n agent spec (adapter ${JSON.stringify(spec.adapter)}); configure a runtime adapter for it on the worker.` : ` ${spec.kind} spec.`}`,
        {
          path: 'runtime.kind',
        },
      );
    }
    const argv = spec.argv;
    if (argv.length === 0 || argv[0] === '')
      throw new CairnError('CAIRN_RUNTIME_FAILED', 'The command runtime was given an empty argv; name the program to run in runtime.argv.', {
        path: 'runtime.argv',
      });
    if (signal.aborted) return { exitCode: null, aborted: true };
    const network = invocation.network ?? false;
    // Not in RuntimeInvocation V1 yet, as `network` was not: the worker sets it beside.
    const { gateway, egress } = invocation as Pick<CommandLaunchContext, 'gateway' | 'egress'>;
    // Unwrapped, the command shares the worker's network: nothing would keep it to its allow-list.
    if (egress !== undefined && this.#settings.launch === undefined)
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        "The item's network is an allow-list, which only a sandbox can keep it to, and this command runtime runs commands unsandboxed; nothing was run. Run the item on an executor with a sandbox (the local executor's bubblewrap), or use network: false or true.",
        { path: 'limits.network' },
      );
    const launch: CommandLaunch = this.#settings.launch?.(argv, {
      workspace,
      env,
      network,
      ...(gateway ? { gateway } : {}),
      ...(egress ? { egress } : {}),
    }) ?? {
      command: argv[0]!,
      args: argv.slice(1),
    };
    const lifeline = launch.lifeline === true;
    // A process launcher that starts programs with live output (the runner's fork server) starts
    // this one too, rather than a fork of this whole process; it cannot switch users.
    const launcher = launch.uid === undefined && launch.gid === undefined ? installedProcessLauncher() : undefined;
    let child: StartedChild;
    try {
      child = launcher?.start
        ? startedChild(await launcher.start({ argv: [launch.command, ...launch.args], cwd: workspace, env: { ...(launch.env ?? env) }, lifeline }))
        : spawnedChild(launch, workspace, env, lifeline);
    } catch (error) {
      throw startFailure(argv, env, error);
    }
    return new Promise<CommandRunResult>((resolve, reject) => {
      let aborted = false;
      let exited = false;
      let termTimer: NodeJS.Timeout | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      const killGroup = (signalName: NodeJS.Signals) => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, signalName);
        } catch {
          // The group is already gone.
        }
      };
      const closeLifeline = () => child.closeLifeline();
      const onAbort = () => {
        aborted = true;
        killGroup('SIGTERM');
        termTimer = setTimeout(() => {
          killGroup('SIGKILL');
          closeLifeline();
        }, this.#settings.killGraceMs);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Aborted while a launcher started it.
      if (signal.aborted && !aborted) onAbort();
      child.stdout!.on('data', (chunk: Buffer) => sinks.stdout(chunk));
      child.stderr!.on('data', (chunk: Buffer) => sinks.stderr(chunk));
      child.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(termTimer);
        if (!exited) reject(startFailure(argv, env, error));
      });
      child.once('exit', () => {
        exited = true;
        // What the command left behind in its group goes with it; then its pipes can close. A
        // process that left the group (setsid) and keeps a pipe open is not waited for long.
        killGroup('SIGKILL');
        closeLifeline();
        closeTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 2_000);
      });
      child.once('close', (code, signalName) => {
        signal.removeEventListener('abort', onAbort);
        clearTimeout(termTimer);
        clearTimeout(closeTimer);
        if (!exited) return;
        // A command stopped on request did not succeed, even if it exited 0 on SIGTERM.
        const exitCode = aborted && code === 0 ? null : code;
        let limitReached: CairnError | undefined;
        try {
          limitReached = launch.limitReached?.({ exitCode, signal: signalName });
        } catch {
          // A wrapper that cannot tell is a wrapper that reports nothing: the exit stands as it is.
        }
        resolve({ exitCode, aborted, ...(signalName ? { signal: signalName } : {}), ...(limitReached ? { limitReached } : {}) });
      });
    });
  }
}

/** The process of a run, however it was started: the part of a ChildProcess the run uses. */
interface StartedChild {
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  closeLifeline(): void;
  once(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** The launch spawned by this process (detached: a process group of its own), with a pipe on fd 3 for a lifeline. */
function spawnedChild(launch: CommandLaunch, workspace: string, env: Readonly<Record<string, string>>, lifeline: boolean): StartedChild {
  const child = spawn(launch.command, [...launch.args], {
    cwd: workspace,
    env: { ...(launch.env ?? env) },
    ...(launch.uid !== undefined ? { uid: launch.uid } : {}),
    ...(launch.gid !== undefined ? { gid: launch.gid } : {}),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...(lifeline ? (['pipe'] as const) : [])],
  });
  return Object.assign(child, { closeLifeline: () => (child.stdio[3] as Readable | null | undefined)?.destroy() }) as StartedChild;
}

/** A launcher's live process seen as a spawned child: `exit` when it ended, `close` once its output and error have closed too. */
function startedChild(live: LiveProcess): StartedChild {
  const events = new EventEmitter();
  let ended: Awaited<LiveProcess['exited']> | undefined;
  let open = 2;
  const closeOnce = () => {
    if (open === 0 && ended !== undefined) events.emit('close', ended.exitCode, ended.signal);
  };
  for (const stream of [live.stdout, live.stderr]) {
    stream.once('close', () => {
      open--;
      closeOnce();
    });
  }
  void live.exited.then((status) => {
    ended = status;
    events.emit('exit', status.exitCode, status.signal);
    closeOnce();
  });
  return Object.assign(events, { pid: live.pid, stdout: live.stdout, stderr: live.stderr, closeLifeline: () => live.closeLifeline() }) as StartedChild;
}

/** Creates a runtime adapter for `command` runtime specs (see `CommandRuntime`). */
export function createCommandRuntime(settings: CommandRuntimeSettings = {}): CommandRuntime {
  return new CommandRuntime(settings);
}

function startFailure(argv: readonly string[], env: Readonly<Record<string, string>>, error: unknown): CairnError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? `it was not found (PATH ${JSON.stringify(env['PATH'] ?? '')})` : code === 'EACCES' ? 'it is not executable' : (error as Error).message;
  return new CairnError(
    'CAIRN_RUNTIME_FAILED',
    `Could not start ${JSON.stringify(argv[0])}: ${reason}. Check runtime.argv and that the program exists in the sandbox.`,
    {
      path: 'runtime.argv[0]',
      cause: error,
    },
  );
}
