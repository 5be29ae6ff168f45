// The CPU time of a process and of everything it starts, however detached (supervisors, sandboxes,
// git, tar), read from a cgroup v1 cpuacct group of its own: a process's children stay in its
// cgroup, and the kernel charges their time there even after they exited, which rusage of the
// direct children alone (or process.cpuUsage) would not see. Needs root.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cpuacctRoot = '/sys/fs/cgroup/cpuacct';

export class CpuCgroup {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** A fresh group `cairn-bench-<label>-<random>` under the cpuacct root. */
  static create(label: string): CpuCgroup {
    if (process.getuid?.() !== 0) throw new Error('the workspace benchmark measures CPU in a cpuacct cgroup and mounts overlays: run it as root');
    if (!existsSync(join(cpuacctRoot, 'cpuacct.usage')))
      throw new Error(`no cgroup v1 cpuacct controller at ${cpuacctRoot}: the workspace benchmark needs one to charge a server's sandboxes to it`);
    const path = join(cpuacctRoot, `cairn-bench-${label}-${randomBytes(4).toString('hex')}`);
    mkdirSync(path);
    return new CpuCgroup(path);
  }

  /**
   * The argv prefix that runs a command inside this group from its first instruction: a shell that
   * joins the group, then execs the command (so its pid is the command's).
   */
  launcher(): string[] {
    return ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path];
  }

  /** CPU time charged to the group so far (user and system, every process), in milliseconds. */
  usageMs(): number {
    return Number(BigInt(readFileSync(join(this.path, 'cpuacct.usage'), 'utf8').trim()) / 1000n) / 1000;
  }

  /** Processes still in the group. */
  processes(): number[] {
    return readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  }

  /** Removes the group; a process still in it (one that outlived its server) is moved to the root group first. */
  remove(): void {
    if (!existsSync(this.path)) return;
    for (const pid of this.processes()) {
      try {
        writeFileSync(join(cpuacctRoot, 'cgroup.procs'), String(pid));
      } catch {
        // It exited meanwhile.
      }
    }
    rmdirSync(this.path);
  }
}
