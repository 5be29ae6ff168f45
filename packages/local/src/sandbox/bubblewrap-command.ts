/** Resource limits applied inside a sandbox (prlimit), each optional. */
export interface SandboxLimits {
  /** CPU seconds (RLIMIT_CPU). */
  readonly cpuSeconds?: number;
  /** Processes of the sandbox's uid (RLIMIT_NPROC): what stops a fork bomb. */
  readonly processes?: number;
  /** Open files (RLIMIT_NOFILE). */
  readonly openFiles?: number;
  /** Largest file the sandbox may write (RLIMIT_FSIZE), bytes. */
  readonly fileBytes?: number;
  /** Address space (RLIMIT_AS), bytes: what stops an 8 GiB allocation; below 1 GiB Node cannot start. */
  readonly addressSpaceBytes?: number;
}

export interface SandboxCommandOptions {
  /** The host directory bound read-write at `/workspace`: the only writable place that outlives the sandbox. */
  readonly workspace: string;
  /** The whole environment inside (everything else is cleared). */
  readonly env: Readonly<Record<string, string>>;
  /** Whether the sandbox shares the host's network; false gives it only its own loopback. */
  readonly network: boolean;
  readonly limits: SandboxLimits;
  /**
   * The unprivileged uid (and gid) the sandbox runs as, one per sandbox so per-uid process limits
   * are per sandbox; the caller owns the workspace to it. Switched to with `setpriv` before
   * bubblewrap starts (the caller may be root; the sandbox never is).
   */
  readonly uid: number;
  /** The bubblewrap binary; `bwrap` on PATH by default. */
  readonly bwrap?: string;
  /**
   * A memory cgroup (v1) directory the caller prepared and opened to `uid`: the reaper joins it
   * first, so everything the sandbox starts is inside and counted against its memory limit.
   */
  readonly memoryCgroup?: string;
}

/**
 * Outside the sandbox, as its uid: a watchdog first, then bubblewrap; the watchdog kills the
 * reaper's process group (bubblewrap with it) the moment the host's end of the pipe on fd 3 closes
 * (the host died), and the reaper exits with bubblewrap's status. The watchdog starts before
 * bubblewrap, so there is no moment with a bubblewrap and no watchdog. Bubblewrap's own
 * --die-with-parent has windows where the parent-death signal is lost (it is cleared while the
 * user namespace is set up), and a bubblewrap whose sandbox was killed mid-setup can wait forever;
 * the reaper kills it either way, and its sandbox dies with it.
 */
const reaper = '(read -r _ <&3; kill -KILL 0) & watchdog=$!; "$@" & sandbox=$!; wait $sandbox; status=$?; kill $watchdog 2>/dev/null; exit $status';

/** Inside the sandbox, the workspace is always here. */
export const sandboxWorkspace = '/workspace';

/**
 * The command line that runs `argv` in a bubblewrap sandbox (spawn it detached, in a process group
 * of its own, with a pipe on fd 3 that the caller keeps open while the sandbox may live): every namespace unshared (network
 * too, unless asked for), an empty tmpfs root with only `/usr` and `/etc` bound read-only, the
 * workspace the one writable bind, a private `/tmp`, `/proc` of its own PID namespace (host
 * processes are invisible), a cleared environment, a new session (no terminal to inject into),
 * and the sandbox killed when its parent dies. Limits are set by `prlimit` inside, before the
 * command starts, as an unprivileged uid: process limits do not bind root.
 */
export function bubblewrapCommand(argv: readonly string[], options: SandboxCommandOptions): { command: string; args: string[] } {
  const args = [
    '--tmpfs', '/',
    '--ro-bind', '/usr', '/usr',
    '--ro-bind', '/etc', '/etc',
    '--symlink', 'usr/bin', '/bin',
    '--symlink', 'usr/sbin', '/sbin',
    '--symlink', 'usr/lib', '/lib',
    '--symlink', 'usr/lib64', '/lib64',
    '--dev', '/dev',
    '--proc', '/proc',
    // pid 1 inside is bubblewrap: its command line names the host's paths (the workspace's among
    // them) and its environment is the reaper's. Neither is the sandbox's business.
    '--ro-bind', '/dev/null', '/proc/1/cmdline',
    '--ro-bind', '/dev/null', '/proc/1/environ',
    '--tmpfs', '/tmp',
    '--bind', options.workspace, sandboxWorkspace,
    '--remount-ro', '/',
    '--chdir', sandboxWorkspace,
    '--unshare-all',
    ...(options.network ? ['--share-net'] : []),
    // No user namespaces inside: `unshare -r` would hand the command a root of its own, and with it
    // kernel code paths an unprivileged process never reaches otherwise.
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    ...Object.entries(options.env).flatMap(([name, value]) => ['--setenv', name, value]),
    '--',
    // A watchdog inside too, for a sandbox whose first process missed its parent-death signal:
    // when the host's end of fd 3 closes, it kills everything in the sandbox. The command itself
    // does not get fd 3.
    '/bin/sh', '-c', '(read -r _ <&3; kill -KILL -1 2>/dev/null) & exec 3<&-; exec "$@"', 'cairn-sandbox',
    ...limitPrefix(options.limits),
    ...argv,
  ];
  const identity = [`--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups', '--no-new-privs', '--pdeathsig', 'KILL', '--'];
  const join = options.memoryCgroup === undefined ? '' : `echo $$ > ${shellQuote(`${options.memoryCgroup}/cgroup.procs`)} || exit 125; `;
  return { command: '/usr/bin/setpriv', args: [...identity, '/bin/sh', '-c', join + reaper, 'cairn-reaper', options.bwrap ?? '/usr/bin/bwrap', ...args] };
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function limitPrefix(limits: SandboxLimits): string[] {
  const flags = [
    limits.cpuSeconds === undefined ? undefined : `--cpu=${limits.cpuSeconds}`,
    limits.processes === undefined ? undefined : `--nproc=${limits.processes}`,
    limits.openFiles === undefined ? undefined : `--nofile=${limits.openFiles}`,
    limits.fileBytes === undefined ? undefined : `--fsize=${limits.fileBytes}`,
    limits.addressSpaceBytes === undefined ? undefined : `--as=${limits.addressSpaceBytes}`,
  ].filter((flag) => flag !== undefined);
  return flags.length === 0 ? [] : ['/usr/bin/prlimit', ...flags, '--'];
}
