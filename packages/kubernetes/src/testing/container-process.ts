import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/** A container image as the endpoint runs it: an unpacked root filesystem and the image config's fields. */
export interface KubernetesTestImage {
  /** The root filesystem (an unpacked OCI image, or `workerTestRootfs(...).definition.rootfs`), bound read-only at `/`. */
  readonly rootfs: string;
  /** The image's ENTRYPOINT; a container's `command` replaces it. */
  readonly entrypoint: readonly string[];
  /** The image's CMD, appended to the ENTRYPOINT; a container's `args` (or `command`) replaces it. */
  readonly command?: readonly string[];
  /** The image's USER, `uid` or `uid:gid`; `0` (as an image without USER) by default. `securityContext.runAsUser` overrides it. */
  readonly user?: string;
  /** The image's ENV, under the container's `env`. */
  readonly environment?: Readonly<Record<string, string>>;
  /** More host paths bound read-only into the container (`workerTestRootfs` uses them; an OCI rootfs needs none). */
  readonly binds?: readonly { readonly source: string; readonly target: string }[];
  /** The image's WORKDIR; `/` by default. A container's `workingDir` overrides it. */
  readonly workingDirectory?: string;
}

/** What a container process is started with: the image, what the pod spec made of it, and its limits. */
export interface ContainerLaunch {
  readonly image: KubernetesTestImage;
  readonly argv: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  readonly uid: number;
  readonly gid: number;
  readonly workingDirectory: string;
  readonly hostname: string;
  /** Capabilities of a container of uid 0 (containerd's names without `CAP_`); others get none. */
  readonly capabilities: readonly string[];
  /** Host folders bound at a path (emptyDir and secret volumes). */
  readonly mounts: readonly { readonly source: string; readonly target: string; readonly readOnly: boolean }[];
  /** `resources.limits.memory` in bytes, enforced by a memory cgroup where one can be made. */
  readonly memoryBytes?: number;
  /** The cgroup's name under the memory controller: unique per container run. */
  readonly cgroupName: string;
  readonly bwrap: string;
  readonly memoryCgroupRoot: string;
}

/** How a container process ended, as the runtime tells the kubelet. */
export interface ContainerExit {
  readonly exitCode: number;
  /** The kernel killed a process of it for its memory cgroup's limit. */
  readonly oomKilled: boolean;
}

/** containerd's default capabilities (Docker's), which `securityContext.capabilities` adds to and drops from. */
export const runtimeDefaultCapabilities: readonly string[] = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'NET_RAW',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
];

/** A container's process under bubblewrap, in a memory cgroup of its own when it has a limit. */
export class ContainerProcess {
  output = '';
  /** Whether the memory limit is enforced (a cgroup could be made and joined). */
  readonly memoryEnforced: boolean;
  readonly exited: Promise<ContainerExit>;
  readonly #child: ChildProcess;
  readonly #cgroup: string | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(launch: ContainerLaunch, onSpawn: () => void) {
    this.#cgroup = launch.memoryBytes === undefined ? undefined : memoryCgroup(launch.memoryCgroupRoot, launch.cgroupName, launch.memoryBytes);
    this.memoryEnforced = this.#cgroup !== undefined;
    const root = launch.uid === 0;
    const namespaces = root
      ? [
          '--unshare-pid',
          '--unshare-ipc',
          '--unshare-uts',
          '--unshare-cgroup-try',
          '--cap-drop',
          'ALL',
          ...launch.capabilities.flatMap((name) => ['--cap-add', `CAP_${name}`]),
        ]
      : ['--unshare-all'];
    const args = [
      ...rootArguments(
        launch.image.rootfs,
        launch.mounts.map((mount) => mount.target),
      ),
      ...(launch.image.binds ?? []).flatMap((bind) => ['--ro-bind', bind.source, bind.target]),
      '--tmpfs',
      '/tmp',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      ...launch.mounts.flatMap((mount) => [mount.readOnly ? '--ro-bind' : '--bind', mount.source, mount.target]),
      '--remount-ro',
      '/',
      ...namespaces,
      // The test-support compromise (see the endpoint's header): the host's loopback services.
      '--share-net',
      '--hostname',
      launch.hostname,
      '--die-with-parent',
      '--uid',
      String(launch.uid),
      '--gid',
      String(launch.gid),
      '--clearenv',
      ...Object.entries(launch.environment).flatMap(([name, value]) => ['--setenv', name, value]),
      '--chdir',
      launch.workingDirectory,
      '--',
      ...launch.argv,
    ];
    // The shell joins the cgroup, then becomes bwrap (same pid): nothing of the container runs outside it.
    const joined = this.#cgroup ? ['/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.#cgroup, launch.bwrap, ...args]] : [launch.bwrap, args];
    // Detached: its own process group, which a kill signals as a whole; no host environment.
    this.#child = spawn(joined[0] as string, joined[1] as string[], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: {} });
    this.#child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.#child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.#child.once('spawn', onSpawn);
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        this.output += `${error.message}\n`;
        resolve({ exitCode: 128, oomKilled: false });
      });
      this.#child.once('exit', (code, signal) => {
        clearTimeout(this.#killTimer);
        const oomKilled = this.#cgroup !== undefined && oomKills(this.#cgroup) > 0;
        removeCgroup(this.#cgroup);
        resolve({ exitCode: code ?? 128 + signalNumber(signal), oomKilled });
      });
    });
  }

  /** As the kubelet stops a container: SIGTERM to its processes, SIGKILL to all after the grace period. */
  stop(gracePeriodMs: number): void {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    if (gracePeriodMs <= 0) {
      this.kill();
      return;
    }
    clearTimeout(this.#killTimer);
    this.#killTimer = setTimeout(() => this.kill(), gracePeriodMs);
    // Started a moment ago, bubblewrap may not have started the container's process yet: the signal waits for it.
    const deliver = () => {
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
      if (signalContainer(this.#child, 'SIGTERM') === 0) setTimeout(deliver, 5);
    };
    deliver();
  }

  /** SIGKILL to the whole process group (bwrap included). */
  kill(): void {
    clearTimeout(this.#killTimer);
    if (this.#child.pid === undefined || this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    try {
      process.kill(-this.#child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}

/**
 * The root filesystem as bubblewrap arguments: its entries bound read-only over bubblewrap's own
 * root (a tmpfs, made read-only at the end), so that a volume can be mounted where the image has
 * no folder, as a container runtime makes its mount points: a folder on the way to such a mount
 * point is made in the tmpfs and its entries bound one by one.
 */
function rootArguments(rootfs: string, mountTargets: readonly string[]): string[] {
  const args: string[] = [];
  const visit = (hostFolder: string, containerFolder: string) => {
    for (const entry of readdirSync(hostFolder, { withFileTypes: true })) {
      const host = join(hostFolder, entry.name);
      const inside = posix.join(containerFolder, entry.name);
      if (entry.isSymbolicLink()) args.push('--symlink', readlinkSync(host), inside);
      else if (entry.isDirectory() && mountTargets.some((target) => target.startsWith(`${inside}/`) && !existsSync(join(rootfs, target)))) {
        args.push('--dir', inside);
        visit(host, inside);
      } else args.push('--ro-bind', host, inside);
    }
  };
  visit(rootfs, '/');
  return args;
}

/** A v1 memory cgroup limited to `bytes` (swap included where the kernel accounts it), or undefined where none can be made. */
function memoryCgroup(root: string, name: string, bytes: number): string | undefined {
  const directory = join(root, 'cairn-kubernetes-test', name);
  try {
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, 'memory.limit_in_bytes'), String(bytes));
    if (existsSync(join(directory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(directory, 'memory.memsw.limit_in_bytes'), String(bytes));
    return directory;
  } catch {
    removeCgroup(directory);
    return undefined;
  }
}

function oomKills(directory: string): number {
  try {
    return Number(/^oom_kill (\d+)$/m.exec(readFileSync(join(directory, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function removeCgroup(directory: string | undefined): void {
  if (directory === undefined) return;
  // The kernel refuses while a process lingers in it (a moment after the group's leader exited).
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      rmdirSync(directory);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

/**
 * Sends a signal to the container's main process (its command), as a runtime sends a stop signal
 * to the container's PID 1: not to the bwrap processes around it, whose death would take the
 * container down at once (--die-with-parent) instead of letting it end cleanly within its grace
 * period, nor to its children, which the command stops as it sees fit. Returns how many it reached.
 */
function signalContainer(child: ChildProcess, signal: NodeJS.Signals): number {
  if (child.pid === undefined) return 0;
  const group: { pid: number; parent: number; name: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the name: state, ppid, pgrp.
      if (Number(afterName[2]) === child.pid)
        group.push({ pid: Number(entry), parent: Number(afterName[1]), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // Gone in between.
    }
  }
  const wrappers = new Set(group.filter((candidate) => candidate.name === 'bwrap').map((candidate) => candidate.pid));
  let signalled = 0;
  for (const candidate of group) {
    if (candidate.name === 'bwrap' || !wrappers.has(candidate.parent)) continue;
    try {
      process.kill(candidate.pid, signal);
      signalled += 1;
    } catch {
      // Gone in between.
    }
  }
  return signalled;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0;
}
