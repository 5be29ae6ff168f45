import type { Readable } from 'node:stream';

/** A program to run to its end: no shell, its whole output kept. */
export interface LaunchRequest {
  /** The program (looked up on `env.PATH` when it has no slash) and its arguments. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** Its whole environment: nothing of this process's is passed on. */
  readonly env: Readonly<Record<string, string>>;
  /** Bytes fed to its standard input (none: /dev/null). */
  readonly input?: Uint8Array;
  /** Kills it (SIGKILL) when aborted; the launch then rejects with an AbortError. */
  readonly signal?: AbortSignal;
  /**
   * Stops it once its standard output passes this many bytes (only for a launcher whose
   * `capsOutput` is true): what it printed is then kept up to one byte past the limit, so a longer
   * `stdout` is how the caller tells.
   */
  readonly maxOutputBytes?: number;
}

export interface LaunchResult {
  /** Null when a signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it (`SIGKILL`), else null. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * A program whose output is read as it comes (the sandbox of a command run, its live log): started
 * in a process group of its own (its pid is the group's), standard input /dev/null, no shell.
 */
export interface LiveLaunchRequest {
  /** The program (looked up on `env.PATH` when it has no slash) and its arguments. */
  readonly argv: readonly string[];
  readonly cwd: string;
  /** Its whole environment: nothing of this process's is passed on. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * A pipe on its fd 3 whose other end the launcher holds until the program has ended, until
   * `closeLifeline`, or until this process dies, whichever comes first: a wrapper reading it (the
   * bubblewrap sandbox's reaper) kills what it started when that end closes.
   */
  readonly lifeline?: boolean;
}

/** A program `ProcessLauncher.start` started. */
export interface LiveProcess {
  /** Its pid, which is also its process group's id: signal `-pid` to reach the group. */
  readonly pid: number;
  /** Its output and error as they come; each ends once every process holding it has closed it. */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Resolves once it has ended, with what ended it. A launcher that dies first resolves it with
   * SIGKILL: its end of the lifeline closed with it, which kills a wrapper that reads it.
   */
  readonly exited: Promise<{ readonly exitCode: number | null; readonly signal: NodeJS.Signals | null }>;
  /** Closes the launcher's end of the lifeline now (a no-op without one, or once closed). */
  closeLifeline(): void;
}

/**
 * Something that starts programs for this process. Node forks its whole address space for every
 * child (libuv's `fork()`, its page tables copied): from a 120 MB process that is ~3 ms of CPU a
 * program, parent and child together, where the program itself may take 1 ms. A long-lived process
 * that stays small can start them instead (see `@cairn/local`'s ForkServer); a process that starts
 * many short programs installs one with useProcessLauncher. A launch rejects only when the program
 * could not be started (an Error with its errno `code`, ENOENT for a missing program) or was aborted.
 */
export interface ProcessLauncher {
  launch(request: LaunchRequest): Promise<LaunchResult>;
  /** Whether it honours `maxOutputBytes`; runs with a limit stay on Node's spawn otherwise. */
  readonly capsOutput?: boolean;
  /**
   * Starts a program whose output is read as it comes (the command runtime's runs, the sandbox
   * among them, take this when it is there); rejects only when it could not be started (an Error
   * with its errno `code`, ENOENT for a missing program).
   */
  start?(request: LiveLaunchRequest): Promise<LiveProcess>;
}

let installed: ProcessLauncher | undefined;

/**
 * Has runGit (and the local executor's mount commands) start their programs through `launcher`
 * from now on, in this whole process; undefined goes back to Node's own spawn. Runs that need a
 * file descriptor passed on stay on Node's spawn, and so do those with their output cut at a size
 * unless the launcher `capsOutput`; the command runtime's runs go through its `start` where it has
 * one.
 */
export function useProcessLauncher(launcher: ProcessLauncher | undefined): void {
  installed = launcher;
}

/** The launcher useProcessLauncher installed, if any. */
export function installedProcessLauncher(): ProcessLauncher | undefined {
  return installed;
}
