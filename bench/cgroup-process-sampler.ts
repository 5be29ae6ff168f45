// Where a cgroup's CPU goes, roughly: every `intervalMs` the processes in the group and the CPU
// each has used so far (/proc/<pid>/stat, every thread), kept by pid, summed by program at the end
// (a node process by its script's name), less what the processes there at the start had used then. A process that lived less than an interval is mostly
// missed: the group's total minus the sampled sum is what such short-lived processes used.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const ticksPerSecond = 100;

export class CgroupProcessSampler {
  readonly #cgroup: string;
  readonly #latest = new Map<number, { command: string; program: string; cpuMs: number }>();
  readonly #baseline = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(cgroup: string, intervalMs = 100) {
    this.#cgroup = cgroup;
    this.#sample();
    for (const [pid, { cpuMs }] of this.#latest) this.#baseline.set(pid, cpuMs);
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  /** Stops sampling; CPU milliseconds by program, largest first. */
  stop(): { program: string; cpuMs: number }[] {
    clearInterval(this.#timer);
    this.#sample();
    const byProgram = new Map<string, number>();
    for (const [pid, { program, cpuMs }] of this.#latest) byProgram.set(program, (byProgram.get(program) ?? 0) + cpuMs - (this.#baseline.get(pid) ?? 0));
    return [...byProgram].map(([program, cpuMs]) => ({ program, cpuMs })).sort((one, other) => other.cpuMs - one.cpuMs);
  }

  #sample(): void {
    let pids: string[];
    try {
      pids = readFileSync(join(this.#cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return;
    }
    for (const pid of pids) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // The command name is in parentheses and may hold spaces; utime and stime are fields 14 and 15.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cpuMs = ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1000;
        const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const known = this.#latest.get(Number(pid));
        // A process that exec'd another program since (a launcher shell) is named by the latest.
        const program = known?.command === command ? known.program : programOf(pid, command);
        this.#latest.set(Number(pid), { command, program, cpuMs });
      } catch {
        // It exited between the listing and the read.
      }
    }
  }
}

function programOf(pid: string, command: string): string {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  // git by its subcommand (the first argument that is neither an option nor the value of -C or -c).
  if (command === 'git')
    return `git ${argv.slice(1).find((argument, index, all) => !argument.startsWith('-') && all[index - 1] !== '-C' && all[index - 1] !== '-c') ?? ''}`.trim();
  // Node names its main thread `MainThread`: such a process is named by its program and script.
  if (argv[0] === undefined || !basename(argv[0]).startsWith('node')) return command;
  const script = argv.slice(1).find((argument) => !argument.startsWith('-'));
  return script ? `node ${basename(script)}` : 'node';
}
