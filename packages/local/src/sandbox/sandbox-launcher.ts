import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { CairnError } from '@cairn/protocol';
import type { CommandLaunch, CommandLaunchContext } from '@cairn/worker';
import type { AttemptVolumes } from './attempt-volumes.ts';
import { bubblewrapCommand, sandboxTrustBundle, sandboxWorkspace, type SandboxGateway, type SandboxLimits } from './bubblewrap-command.ts';
import { memoryLimitReached, takeMemoryReport } from './memory-limit-reached.ts';
import { openFilesHardLimit } from './open-files-hard-limit.ts';
import type { OverlayWorkspaces } from './overlay-workspaces.ts';
import { SandboxUids } from './sandbox-uids.ts';

export interface SandboxLauncherOptions {
  readonly limits: SandboxLimits;
  /** The uids sandboxes take in turn. */
  readonly uids: { readonly first: number; readonly count: number };
  readonly bwrap?: string;
  /** Memory a sandbox may use, in bytes, enforced by a memory cgroup where one can be made. */
  readonly memoryBytes?: number;
  /** Where the v1 memory controller is mounted; `/sys/fs/cgroup/memory` by default. */
  readonly memoryCgroupRoot?: string;
  /** The attempts' disk limits: a workspace mounted there gets its attempt's bounded /tmp. */
  readonly volumes?: AttemptVolumes;
  /**
   * Workspaces laid over the snapshot cache: a workspace laid there already has its sandbox uid,
   * and only what the worker wrote into it is handed over (see OverlayWorkspaces.handOver).
   */
  readonly layers?: Pick<OverlayWorkspaces, 'handOver'>;
}

/**
 * What a sandbox launch is told: the command runtime's context, and host folders to show
 * read-only. Its `gateway` (the model gateway, reached without a network) becomes a relay from
 * `127.0.0.1:<port>` inside to the Unix socket on the host (see SandboxCommandOptions.gateway): the
 * caller listens on the socket before the launch, in a folder the sandbox's uid can search; the
 * launch gives the socket to that uid (owner, 0600).
 */
export interface SandboxLaunchContext extends CommandLaunchContext {
  /** Host folders bound read-only at the same path inside (a runtime's program installed outside /usr). */
  readonly readOnlyPaths?: readonly string[];
}

/**
 * The command runtime's `launch` hook that puts each run in a bubblewrap sandbox of its own: the
 * next unprivileged uid is given the workspace (the attempt's folder, which also holds its git
 * directory, is only opened for passing through), and the command becomes the sandbox command
 * with a lifeline on fd 3, so the sandbox dies with the worker's process. A sandbox the kernel
 * killed a process of for its memory cgroup's limit is said to have failed for that
 * (`limitReached`), with the limit and the peak its reaper kept before removing the cgroup.
 * `limits.openFiles` above this process's hard limit is lowered to it: the sandbox could not be
 * given more (the executor says so once in its log).
 */
export function sandboxLauncher(options: SandboxLauncherOptions): (argv: readonly string[], context: SandboxLaunchContext) => CommandLaunch {
  const uids = new SandboxUids(options.uids.first, options.uids.count);
  // A sandbox cannot be given more open files than this process's hard limit (see openFilesHardLimit).
  const hardLimit = options.limits.openFiles === undefined ? undefined : openFilesHardLimit();
  const limits: SandboxLimits =
    hardLimit !== undefined && options.limits.openFiles !== undefined && hardLimit < options.limits.openFiles
      ? { ...options.limits, openFiles: hardLimit }
      : options.limits;
  return (argv, context) => {
    if (context.network && !existsSync('/usr/bin/slirp4netns')) {
      throw new CairnError(
        'CAIRN_EXECUTOR_START_FAILED',
        'This item has network: true, and its sandbox gets its own network through slirp4netns, which is not installed (no /usr/bin/slirp4netns): install it with `apt-get install -y slirp4netns`, or set limits.network to false.',
        { path: 'limits.network' },
      );
    }
    const uid = options.layers?.handOver(context.workspace) ?? ownedBy(uids.next(), context.workspace);
    chmodSync(dirname(context.workspace), 0o711);
    if (context.gateway) handOverDoorSocket(context.gateway, uid, 'gateway');
    if (context.egress) {
      handOverDoorSocket(context.egress, uid, 'egress');
      if (context.egress.trustBundle !== undefined) checkTrustBundle(context.egress.trustBundle);
    }
    const memory =
      options.memoryBytes === undefined ? undefined : memoryCgroupFor(uid, options.memoryBytes, options.memoryCgroupRoot ?? '/sys/fs/cgroup/memory');
    // Beside the workspace, in the attempt's folder (root's); an unguessable name, written with set -C.
    const memoryReport = memory ? join(dirname(context.workspace), `.cairn-memory-${randomUUID()}`) : undefined;
    const tmp = options.volumes?.tmpOf(context.workspace);
    // Inside, the workspace is /workspace: a HOME (or CAIRN_INPUTS) naming a host path under it would point nowhere.
    const env = Object.fromEntries(
      Object.entries(context.env).map(([name, value]) => [
        name,
        value === context.workspace || value.startsWith(`${context.workspace}/`) ? `${sandboxWorkspace}${value.slice(context.workspace.length)}` : value,
      ]),
    );
    const launch = bubblewrapCommand(argv, {
      workspace: context.workspace,
      env,
      network: context.network,
      limits,
      uid,
      ...(context.readOnlyPaths ? { readOnlyPaths: context.readOnlyPaths } : {}),
      ...(options.bwrap ? { bwrap: options.bwrap } : {}),
      ...(memory ? { memoryCgroup: memory.directory, memoryReport: memoryReport! } : {}),
      ...(tmp ? { tmp } : {}),
      ...(context.gateway ? { gateway: context.gateway } : {}),
      ...(context.egress ? { egress: context.egress } : {}),
      // The reaper has its pid watched before it starts anything, and so every process of the sandbox (see SpaceRefusals).
      pidFiles: options.volumes?.refusalsPidFilesOf(context.workspace) ?? [],
    });
    return {
      ...launch,
      lifeline: true,
      ...(memoryReport ? { limitReached: (ended) => memoryLimitReached(takeMemoryReport(memoryReport), ended, memory!.killsBefore) } : {}),
    };
  };
}

/**
 * Gives a door's socket (the gateway's, the egress proxy's) to the sandbox's uid, the only one that may connect to it (its relay
 * runs as that uid), after checking that the relay will reach it: a socket, not a link, under
 * folders the uid can search. Another sandbox's relay, another uid, cannot connect.
 */
function handOverDoorSocket(gateway: SandboxGateway, uid: number, door: 'gateway' | 'egress'): void {
  const refuse = (reason: string) => {
    const what = door === 'gateway' ? 'model gateway' : 'egress proxy';
    throw new CairnError('CAIRN_EXECUTOR_START_FAILED', `The sandbox's ${what} cannot be used: ${reason}.`, { path: door });
  };
  // The relay is a Perl script (perl-base is essential in Debian, but not every host is one).
  if (!existsSync('/usr/bin/perl')) refuse('its relay runs on Perl, which is not installed (no /usr/bin/perl): install it with `apt-get install -y perl-base`');
  if (!Number.isInteger(gateway.port) || gateway.port < 1 || gateway.port > 65_535) refuse(`its port ${gateway.port} is not an integer from 1 to 65535`);
  if (!isAbsolute(gateway.socket)) refuse(`its socket ${gateway.socket} is not an absolute path`);
  let socket: Stats;
  try {
    socket = lstatSync(gateway.socket);
  } catch (error) {
    return refuse(`its socket ${gateway.socket} cannot be read (${(error as NodeJS.ErrnoException).code}): listen on it before the launch`);
  }
  if (!socket.isSocket()) refuse(`${gateway.socket} is not a Unix socket`);
  for (let folder = dirname(gateway.socket); ; folder = dirname(folder)) {
    const { mode, uid: owner, gid } = statSync(folder);
    const searchable = owner === uid ? mode & 0o100 : gid === uid ? mode & 0o010 : mode & 0o001;
    if (!searchable)
      refuse(
        `the sandbox's uid ${uid} cannot search ${folder}, above its socket: put the socket in a folder of mode 0711 or wider (the worker's forwarder makes one under the system's temporary folder)`,
      );
    if (folder === dirname(folder)) break;
  }
  lchownSync(gateway.socket, uid, uid);
  chmodSync(gateway.socket, 0o600);
}

/**
 * The trust bundle is shown over the system's (see SandboxCommandOptions.egress), which must be
 * there to be shown over: bubblewrap cannot make a mount point in the read-only /etc.
 */
function checkTrustBundle(bundle: string): void {
  if (existsSync(sandboxTrustBundle)) return;
  throw new CairnError(
    'CAIRN_EXECUTOR_START_FAILED',
    `The sandbox's egress proxy brokers credentials with a certificate its sandbox must trust, shown at ${sandboxTrustBundle}, which this host does not have (its trust bundle is ${bundle}): install the system's CAs with \`apt-get install -y ca-certificates\`.`,
    { path: 'egress.trustBundle' },
  );
}

/** Gives every file of `workspace` to `uid` (chown -R) and returns it. */
function ownedBy(uid: number, workspace: string): number {
  const owned = spawnSync('/bin/chown', ['-R', `${uid}:${uid}`, workspace], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (owned.status !== 0) {
    throw new CairnError(
      'CAIRN_EXECUTOR_START_FAILED',
      `Cannot give the workspace to the sandbox's uid ${uid}: ${owned.stderr.toString().trim()}. The local executor must run as root to use per-sandbox uids.`,
    );
  }
  return uid;
}

/**
 * A memory cgroup (v1) for the sandbox of `uid`, limited to `bytes` (swap included where the
 * kernel accounts it), which its reaper joins and removes when the sandbox ends; undefined where cgroups
 * cannot be made (no controller, not root): the address-space limit still bounds each process.
 * One an earlier sandbox of the uid left (its reaper could not remove it) keeps its OOM kills:
 * `killsBefore` is their count, and its peak starts again from now.
 */
function memoryCgroupFor(uid: number, bytes: number, root: string): { readonly directory: string; readonly killsBefore: number } | undefined {
  const directory = join(root, cgroupFolder, String(uid));
  try {
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, 'memory.limit_in_bytes'), String(bytes));
    if (existsSync(join(directory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(directory, 'memory.memsw.limit_in_bytes'), String(bytes));
    writeFileSync(join(directory, 'memory.max_usage_in_bytes'), '0');
    const killsBefore = Number(/^oom_kill (\d+)$/m.exec(readFileSync(join(directory, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);
    return { directory, killsBefore };
  } catch {
    return undefined;
  }
}

/** Where the sandboxes' memory cgroups are made under the memory controller's mount. */
const cgroupFolder = 'cairn';

/**
 * Removes the memory cgroups of sandboxes that are gone: those of `uids` that hold no process (the
 * kernel refuses to remove one that does) and were made more than `minimumAgeMs` ago (one made a
 * moment ago may be a sandbox that has not joined it yet). A reaper removes its sandbox's cgroup
 * itself; this catches those whose reaper was killed with its server. Returns how many were removed.
 */
export function removeIdleSandboxCgroups(options: {
  readonly uids: { readonly first: number; readonly count: number };
  readonly memoryCgroupRoot?: string;
  readonly minimumAgeMs?: number;
}): number {
  const folder = join(options.memoryCgroupRoot ?? '/sys/fs/cgroup/memory', cgroupFolder);
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return 0;
  }
  const before = Date.now() - (options.minimumAgeMs ?? 60_000);
  let removed = 0;
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const uid = Number(name);
    if (uid < options.uids.first || uid >= options.uids.first + options.uids.count) continue;
    try {
      if (statSync(join(folder, name)).mtimeMs > before) continue;
      rmdirSync(join(folder, name));
      removed++;
    } catch {
      // In use (EBUSY) or already gone: not ours to remove now.
    }
  }
  return removed;
}
