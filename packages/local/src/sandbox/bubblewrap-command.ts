import { sandboxLimitSteps } from './sandbox-limits.ts';
import { sandboxRelayScript } from './sandbox-relay.ts';

/** Resource limits applied inside a sandbox (see sandboxLimitSteps), each optional. */
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
  /**
   * Whether the sandbox has a network: its own namespace behind a user-mode stack (slirp4netns) that
   * reaches outside but never the host's loopback; false gives it only its own loopback.
   */
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
   * A memory cgroup (v1) directory the caller prepared: the reaper joins it first, so everything
   * the sandbox starts is inside and counted against its memory limit, and removes it when the
   * sandbox has ended.
   */
  readonly memoryCgroup?: string;
  /**
   * A file (that must not exist yet) the reaper writes the memory cgroup's figures to just before it
   * removes the cgroup — `limit <bytes>`, `peak <bytes>`, `kills <OOM kills>`, a line each — so the
   * caller can say why the sandbox died once the cgroup is gone. With `memoryCgroup` only.
   */
  readonly memoryReport?: string;
  /**
   * A host folder bound read-write at /tmp (a tmpfs of a fixed size the caller mounted); without
   * one, /tmp is a private tmpfs of bubblewrap's, unbounded.
   */
  readonly tmp?: string;
  /**
   * Host folders bound read-only at the same path inside (a program installed outside /usr, such
   * as the Claude Code CLI): visible and runnable, never writable.
   */
  readonly readOnlyPaths?: readonly string[];
  /**
   * A way to the model gateway without a network: inside the sandbox's own network namespace,
   * TCP `127.0.0.1:<port>` leads to the Unix socket `socket` on the host (a relay, run as `uid`,
   * joins each connection to a new one to the socket), and the command starts only once that port
   * listens. Nothing else is reachable through it. `uid` must be able to connect to the socket:
   * write permission on it and search permission on every folder above it.
   */
  readonly gateway?: SandboxGateway;
  /**
   * The attempt's egress proxy (ADR 0049), for a network that is an allow-list: a door as the
   * gateway's (and beside it), with `network` false, so the proxy is the sandbox's only way out. A
   * `trustBundle` (a host file, readable by `uid`) is shown at /etc/ssl/certs/ca-certificates.crt,
   * where OpenSSL, curl and git look, and named by the variables Node, Python and pip read: the
   * system's CAs and the attempt's own, which signs the hosts whose credentials the proxy brokers.
   */
  readonly egress?: SandboxEgress;
  /**
   * Files the reaper appends its pid to (a line each, errors ignored) before it starts anything,
   * so a watcher of those pids (see SpaceRefusals) follows every process of the sandbox.
   */
  readonly pidFiles?: readonly string[];
}

/** The sandbox's door to its egress proxy (see SandboxCommandOptions.egress). */
export interface SandboxEgress extends SandboxGateway {
  readonly trustBundle?: string;
}

/** Where a sandbox's trust bundle is shown, and the variables that name it for tools that do not read it by default. */
export const sandboxTrustBundle = '/etc/ssl/certs/ca-certificates.crt';
const trustVariables = ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'npm_config_cafile'];

/** A sandbox's one way to the model gateway (see SandboxCommandOptions.gateway), or to its egress proxy. */
export interface SandboxGateway {
  /** The TCP port on 127.0.0.1 inside the sandbox (1–65535). */
  readonly port: number;
  /** The Unix socket on the host that each connection to the port is joined to. */
  readonly socket: string;
}

/**
 * The reaper's watchdog, and the trap it is forked under. It is stopped with KILL, never TERM: a
 * subshell forked a moment ago may not have reset the inherited TERM trap yet, and loses a TERM
 * to it; it then reads fd 3 for as long as the host lives, and the reaper, which waits for it
 * before removing the cgroup, waits for good. A sandbox that ends at once on a loaded machine hit
 * this (its attempt stayed running, its run never ended).
 */
export const reaperWatchdog = {
  trap: "trap 'stopped=1' TERM INT",
  start: '(read -r _ <&3; kill -KILL 0) & watchdog=$!',
  stop: 'kill -KILL $watchdog 2>/dev/null',
} as const;

/**
 * The reaper's last step, once bubblewrap has ended, however it ended: every process of the
 * sandbox's uid is killed (kill -1 as that uid: all of its processes at once, and no one else's).
 * Bubblewrap's first child, pid 1 inside, can outlive it: as the init of a new PID namespace it
 * ignores a TERM from outside (the group's, a stop), and it sets its parent-death signal only at the
 * end of its setup, too late if bubblewrap is gone by then. Bubblewrap killed before it let its
 * child go on leaves that child waiting for good (holding the launch's output, the lifeline and
 * the host's mounts as they were); killed later, the child runs the command with no parent to die
 * with, until the worker closes the lifeline. A stop in a sandbox's first milliseconds did either
 * here (the sandbox-gateway test waited for it). The uid is the sandbox's alone, as its process
 * limit and memory cgroup are: a layered attempt's sandboxes share one, one after another.
 */
const leftovers = 'setpriv --reuid="$uid" --regid="$uid" --clear-groups -- /bin/sh -c "kill -KILL -1" </dev/null >/dev/null 2>&1 3<&-';

/**
 * Outside the sandbox, as the caller (root), with an empty environment: a watchdog first, then
 * bubblewrap as the sandbox's uid; the watchdog kills the reaper's process group (bubblewrap and
 * the network stack with it) the moment the host's end of the pipe on fd 3 closes (the host died),
 * and the reaper exits with bubblewrap's status. The watchdog starts before bubblewrap, so there is
 * no moment with a bubblewrap and no watchdog. Bubblewrap's own --die-with-parent has windows where
 * the parent-death signal is lost (it is cleared while the user namespace is set up), and a
 * bubblewrap whose sandbox was killed mid-setup can wait forever; the reaper kills it either way.
 *
 * Bubblewrap's options go through a pipe (`--args`), not its argv: its first child is pid 1 inside
 * the sandbox, and /proc/1/cmdline and /proc/1/environ would show the sandbox the host's paths.
 *
 * With network, the sandbox gets its own network namespace and a user-mode stack (slirp4netns,
 * started here once bubblewrap reports the sandbox's pid on its info fd) that cannot reach the
 * host's loopback (--disable-host-loopback): the server's API is on it. The stack runs sandboxed
 * (own mount namespace, seccomp) and is killed as soon as bubblewrap exits.
 *
 * With a gateway or an egress proxy, the relay (sandboxRelayScript, one for both doors) is started the same way, network or not: in the
 * sandbox's network namespace (nsenter, as root), then as the sandbox's uid with no privileges to
 * gain (setpriv), in the reaper's process group and memory cgroup, so the host-death watchdog and
 * the cgroup take it with the sandbox; it is killed as soon as bubblewrap exits. It runs in the
 * host's mount namespace (it must reach the host's socket), outside the sandbox's PID namespace:
 * nothing in the sandbox can see or signal it.
 * Arguments: uid, bubblewrap, network (0/1), the number of bubblewrap options, the memory cgroup
 * (or ''), the file for its figures (or ''), the relay's doors (`<port> <socket>` a line, or ''), the
 * relay's script, the number of pid files, the pid files, the options, the command.
 */
const reaper = [
  'uid=$1 bwrap=$2 network=$3 count=$4 cgroup=$5 report=$6 doors=$7 relay=$8 watched=$9; shift 9',
  // Its pid is watched before it starts anything (the same pid throughout: it forks, never execs).
  'while [ "$watched" -gt 0 ]; do { echo $$ >> "$1"; } 2>/dev/null; shift; watched=$((watched-1)); done',
  // The memory cgroup is joined before anything starts, so everything the sandbox starts is in it.
  'if [ -n "$cgroup" ]; then echo $$ > "$cgroup/cgroup.procs" || exit 125; fi',
  'options() { n=$count; for option; do [ "$n" -gt 0 ] || break; printf \'%s\\0\' "$option"; n=$((n-1)); done; }',
  'sandbox() { setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --pdeathsig KILL -- "$bwrap" --args 4 "$@"; }',
  // Shell builtins only (no process per sandbox); set -C: never through a file or link put there first.
  'memory_report() { kills=0; while read -r key value; do [ "$key" != oom_kill ] || kills=$value; done < "$cgroup/memory.oom_control"; read -r peak < "$cgroup/memory.max_usage_in_bytes"; read -r limit < "$cgroup/memory.limit_in_bytes"; (set -C; printf "limit %s\\npeak %s\\nkills %s\\n" "$limit" "$peak" "$kills" > "$report"); }',
  reaperWatchdog.trap,
  reaperWatchdog.start,
  'if [ "$network" = 1 ] || [ -n "$doors" ]; then',
  '  exec 9>&1',
  '  { options "$@" | { shift "$count"; sandbox --info-fd 8 "$@" 4<&0 </dev/null 8>&1 >&9 9>&-; }; echo "exit $?"; } | {',
  // The first pipe carries bubblewrap's info (child-pid) then its exit status, on lines of their own.
  '    status=125 stack= relayed=',
  '    while read -r line; do case $line in',
  '      *child-pid*) pid=${line#*: }; pid=${pid%,}; i=0',
  // The relay starts at once (it waits for the namespace's loopback itself); its errors go to the reaper's stderr.
  '        if [ -n "$doors" ]; then nsenter --net="/proc/$pid/ns/net" -- setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs --pdeathsig KILL -- /usr/bin/perl -e "$relay" "$doors" </dev/null >/dev/null 3<&- 9>&- & relayed=$!; fi',
  '        if [ "$network" = 1 ]; then',
  // Bubblewrap's pid 1 sets up the namespace's loopback before it forks the command: the stack
  // starts after that (both at once fail on netlink), and the command waits for the stack.
  '        until children=; read -r children < /proc/$pid/task/$pid/children; [ -n "$children" ] || [ ! -d /proc/$pid ] || [ $i -ge 1000 ]; do i=$((i+1)); sleep 0.005; done 2>/dev/null',
  '        slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp --netns-type=path "/proc/$pid/ns/net" tap0 >/dev/null 2>&1 </dev/null 3<&- 9>&- & stack=$!; fi ;;',
  '      "exit "*) status=${line#exit } ;;',
  '    esac; done',
  '    [ -n "$stack" ] && kill -KILL "$stack" 2>/dev/null; [ -n "$relayed" ] && kill -KILL "$relayed" 2>/dev/null; exit "$status"; } &',
  'else',
  '  options "$@" | { shift "$count"; sandbox "$@" 4<&0 </dev/null; } &',
  'fi',
  // A SIGTERM to the group (a cancel, a timeout) reaches bubblewrap too; the reaper outlives it
  // long enough to clean up (the SIGKILL that may follow is what the start-up sweep is for).
  'sandbox=$!; wait $sandbox; status=$?',
  'if [ -n "$stopped" ]; then kill -KILL $sandbox 2>/dev/null; wait $sandbox; status=143; fi',
  // Whatever ended bubblewrap, nothing of the sandbox outlives the reaper (see leftovers).
  leftovers,
  reaperWatchdog.stop,
  // The cgroup goes with the sandbox: its figures are kept first (how the sandbox died), then the
  // reaper steps out to its parent and removes it once the sandbox's last processes (killed with
  // its pid 1) have left it.
  'if [ -n "$cgroup" ]; then wait $watchdog 2>/dev/null; [ -z "$report" ] || memory_report 2>/dev/null; echo $$ > "${cgroup%/*}/cgroup.procs"; i=0; until rmdir "$cgroup" 2>/dev/null || [ $i -ge 50 ]; do i=$((i+1)); sleep 0.02; done; fi',
  'exit $status',
].join('\n');

/** Inside, before the command: wait (5 s at most) until the network stack has given tap0 its default route. */
const awaitNetwork =
  'i=0; until grep -q "^tap0\t00000000" /proc/net/route 2>/dev/null; do i=$((i+1)); [ $i -lt 500 ] || { echo "cairn: the sandbox network did not come up" >&2; exit 125; }; sleep 0.01; done; ';

/**
 * Inside, before the command: wait (5 s at most, by the clock: /proc/uptime in hundredths) until
 * the relay listens on 127.0.0.1:<port> (a LISTEN line, state 0A, of the namespace's
 * /proc/net/tcp). The relay binds its doors in order: the last one listening means all are.
 */
function awaitRelay(port: number): string {
  const listening = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 0A`;
  // Shell builtins only: a process per look would count against the sandbox's process limit.
  return `listening() { while read -r _ address _ state _; do [ "$address $state" != "${listening}" ] || return 0; done < /proc/net/tcp; return 1; }; clock() { read -r now _ < /proc/uptime; now=$((\${now%.*} * 100 + 1\${now#*.} - 100)); }; clock; deadline=$((now+500)); until listening 2>/dev/null; do clock; [ $now -lt $deadline ] || { echo "cairn: the sandbox's relay did not listen on 127.0.0.1:${port}" >&2; exit 125; }; sleep 0.005; done; `;
}

/** Inside the sandbox, the workspace is always here. */
export const sandboxWorkspace = '/workspace';

/**
 * The command line that runs `argv` in a bubblewrap sandbox (spawn it detached, in a process group
 * of its own, with a pipe on fd 3 that the caller keeps open while the sandbox may live): every
 * namespace unshared (with network, its own network namespace behind a user-mode stack that cannot
 * reach the host's loopback), nested user namespaces refused, an empty tmpfs root with only `/usr`
 * and `/etc` bound read-only, the workspace the one writable bind, a private `/tmp` (the caller's
 * bounded one when given), `/proc` of its own PID namespace (host processes are invisible), a
 * cleared environment, a new session (no terminal to inject into), and the sandbox killed when its
 * parent dies. Limits are set inside, just before the command starts, as an unprivileged uid
 * (process limits do not bind root): see sandboxLimitSteps.
 */
export function bubblewrapCommand(argv: readonly string[], options: SandboxCommandOptions): { command: string; args: string[]; env: Record<string, string> } {
  const doors = [options.gateway, options.egress].filter((door) => door !== undefined);
  for (const door of doors) {
    if (!Number.isInteger(door.port) || door.port < 1 || door.port > 65_535)
      throw new RangeError(`the sandbox ${door === options.egress ? 'egress proxy' : 'gateway'}'s port must be an integer from 1 to 65535, not ${door.port}`);
    if (door.socket.includes('\n')) throw new RangeError(`the sandbox door's socket path must not hold a newline: ${JSON.stringify(door.socket)}`);
  }
  if (options.gateway !== undefined && options.egress !== undefined && options.gateway.port === options.egress.port)
    throw new RangeError(`the sandbox gateway and egress proxy need two ports, not ${options.gateway.port} for both`);
  const trustBundle = options.egress?.trustBundle;
  const env = trustBundle === undefined ? options.env : { ...options.env, ...Object.fromEntries(trustVariables.map((name) => [name, sandboxTrustBundle])) };
  const bubblewrapOptions = [
    '--tmpfs',
    '/',
    '--ro-bind',
    '/usr',
    '/usr',
    '--ro-bind',
    '/etc',
    '/etc',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    // pid 1 inside is bubblewrap: its command line names the host's paths (the workspace's among
    // them) and its environment is the reaper's. Neither is the sandbox's business.
    '--ro-bind',
    '/dev/null',
    '/proc/1/cmdline',
    '--ro-bind',
    '/dev/null',
    '/proc/1/environ',
    ...(options.tmp === undefined ? ['--tmpfs', '/tmp'] : ['--bind', options.tmp, '/tmp']),
    ...(options.readOnlyPaths ?? []).flatMap((path) => ['--ro-bind', path, path]),
    ...(trustBundle === undefined ? [] : ['--ro-bind', trustBundle, sandboxTrustBundle]),
    '--bind',
    options.workspace,
    sandboxWorkspace,
    '--remount-ro',
    '/',
    '--chdir',
    sandboxWorkspace,
    '--unshare-all',
    // A user namespace of its own (not just "try"), in which no further one may be made: nested
    // user namespaces would hand the sandbox root-in-namespace and the kernel surface behind it.
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    ...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]),
  ];
  const limitSteps = sandboxLimitSteps(options.limits);
  const command = [
    // A watchdog inside too, for a sandbox whose first process missed its parent-death signal:
    // when the host's end of fd 3 closes, it kills everything in the sandbox. The command itself
    // does not get fd 3.
    '--',
    '/bin/sh',
    '-c',
    `${options.network ? awaitNetwork : ''}${doors.length > 0 ? awaitRelay(doors.at(-1)!.port) : ''}(read -r _ <&3; kill -KILL -1 2>/dev/null) & exec 3<&-; ${limitSteps.statements}exec "$@"`,
    'cairn-sandbox',
    ...limitSteps.prefix,
    ...argv,
  ];
  return {
    // The item's environment (secrets included) reaches the sandbox through --setenv only: the
    // reaper, setpriv and bubblewrap on the host run with PATH alone.
    command: '/bin/sh',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    args: [
      '-c',
      reaper,
      'cairn-reaper',
      String(options.uid),
      options.bwrap ?? '/usr/bin/bwrap',
      options.network ? '1' : '0',
      String(bubblewrapOptions.length),
      options.memoryCgroup ?? '',
      options.memoryCgroup === undefined ? '' : (options.memoryReport ?? ''),
      doors.map((door) => `${door.port} ${door.socket}`).join('\n'),
      doors.length > 0 ? sandboxRelayScript : '',
      String(options.pidFiles?.length ?? 0),
      ...(options.pidFiles ?? []),
      ...bubblewrapOptions,
      ...command,
    ],
  };
}
