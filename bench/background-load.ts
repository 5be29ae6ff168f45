// The bench's load configuration (`CAIRN_BENCH_LOAD=cpu+io pnpm bench engine`): a fixed load run
// beside the measured rounds for their whole duration, so that a row says how the work fares next
// to busy neighbours, as it does on a shared machine, and not only on an idle one. The CPU part
// takes cores from it; the I/O part makes every fsync wait behind a neighbour's writes on the same
// file system, where a design that waits on each commit's fsync pays most.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopChild } from './stop-child.ts';

/** A load to run beside the bench. */
export interface LoadConfiguration {
  /** What the rows measured under it carry after an `@` (`engine.fanout-10000.wall-ms@cpu+io`). */
  readonly name: string;
  /** Busy processes, each spinning on a core, at a nice level. */
  readonly cpu?: { readonly processes: number; readonly nice: number };
  /** One process writing `blockBytes` and fdatasyncing them every `intervalMs`, over a file of `fileBytes`. */
  readonly io?: { readonly blockBytes: number; readonly intervalMs: number; readonly fileBytes: number };
}

const mebibyte = 1024 * 1024;

/**
 * CPU: two busy processes, one per core of the 2-core development machine, at nice 0, the level
 * the bench and every neighbour's test run have: each core then has one more runnable process
 * than the bench brings, so the bench gets about half of the CPU time it wants while it is busy
 * (the CFS shares equal weights), as it did beside another engineer's test run. A higher nice level
 * would give the bench nearly all of it back (nice 10 weighs a tenth of nice 0) and measure little.
 */
const cpuLoad = { processes: 2, nice: 0 } as const;

/**
 * I/O: 1 MiB written and fdatasynced every 20 ms (50 MiB/s, 50 fdatasyncs a second while the disk
 * keeps up) over a 64 MiB file in the temp folder, the file system where the engine's SQLite
 * database, redis's append-only file and the PostgreSQL cluster of the peers live. On this disk a
 * 1 MiB fdatasync takes 1–1.5 ms, so the load keeps the disk busy 5–8 % of the time with writes
 * that a commit's fsync may have to wait behind, steady rather than saturating the disk (a
 * saturated one would measure the disk's queue, not the bench, and stall the other engineers).
 */
const ioLoad = { blockBytes: mebibyte, intervalMs: 20, fileBytes: 64 * mebibyte } as const;

/** The configurations `CAIRN_BENCH_LOAD` may name. */
export const loadConfigurations: Readonly<Record<string, LoadConfiguration>> = {
  'cpu+io': { name: 'cpu+io', cpu: cpuLoad, io: ioLoad },
  cpu: { name: 'cpu', cpu: cpuLoad },
  io: { name: 'io', io: ioLoad },
};

/** The configuration `value` (`CAIRN_BENCH_LOAD`'s) names; none for an unset or empty one. */
export function loadConfigurationNamed(value: string | undefined): LoadConfiguration | undefined {
  if (!value) return undefined;
  const configuration = loadConfigurations[value];
  if (!configuration)
    throw new Error(
      `CAIRN_BENCH_LOAD=${JSON.stringify(value)} names no load configuration: set it to one of ${Object.keys(loadConfigurations).join(', ')}, or unset it for none`,
    );
  return configuration;
}

/** The configuration in words, for the bench's log and its results. */
export function describeLoad({ cpu, io }: LoadConfiguration): string {
  const parts = [];
  if (cpu) parts.push(`${cpu.processes} busy processes at nice ${cpu.nice}`);
  if (io)
    parts.push(
      `a process writing ${io.blockBytes / mebibyte} MiB and fdatasyncing it every ${io.intervalMs} ms over a ${io.fileBytes / mebibyte} MiB file in ${tmpdir()}`,
    );
  return parts.join('; ');
}

/** What the load did, read as it stopped. */
export interface LoadReport {
  /** CPU time each busy process used, in milliseconds. */
  readonly cpuMs: readonly number[];
  /** The I/O process's blocks written and fdatasynced, and how long its fdatasyncs took. */
  readonly io?: IoLoadReport;
}

/** What the I/O process says as it stops. */
export interface IoLoadReport {
  readonly blocks: number;
  readonly bytes: number;
  readonly fdatasyncP50Ms: number;
  readonly fdatasyncP99Ms: number;
  readonly fdatasyncMaxMs: number;
}

/** A load running; `stop` ends every process of it and removes its file. */
export interface RunningLoad {
  readonly configuration: LoadConfiguration;
  /** The pids of its processes (busy ones first, then the I/O one). */
  readonly pids: readonly number[];
  /** The folder the I/O process writes in (removed by `stop`). */
  readonly directory: string | undefined;
  stop(): Promise<LoadReport>;
}

const childScript = join(dirname(fileURLToPath(import.meta.url)), 'background-load-child.ts');

/** Starts `configuration`'s processes; the I/O one writes in a new folder under `parent` (the temp folder unless said). */
export function startBackgroundLoad(configuration: LoadConfiguration, parent: string = tmpdir()): RunningLoad {
  const busy: ChildProcess[] = [];
  let writer: ChildProcess | undefined;
  let writerOutput = '';
  const directory = configuration.io ? mkdtempSync(join(parent, 'cairn-bench-io-load-')) : undefined;
  // A bench that exits without reaching `stop` (another benchmark threw, process.exit) leaves
  // nothing behind: the children also leave by themselves once re-parented.
  const killOnExit = () => {
    for (const child of [...busy, writer]) child?.kill('SIGKILL');
    if (directory) rmSync(directory, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  try {
    for (let index = 0; index < (configuration.cpu?.processes ?? 0); index++) {
      const child = spawn(process.execPath, [childScript, String(process.pid), 'cpu'], { stdio: ['ignore', 'ignore', 'inherit'] });
      busy.push(child);
      setPriority(child.pid!, configuration.cpu!.nice);
    }
    if (configuration.io && directory) {
      const { blockBytes, intervalMs, fileBytes } = configuration.io;
      writer = spawn(
        process.execPath,
        [childScript, String(process.pid), 'io', join(directory, 'load'), String(blockBytes), String(intervalMs), String(fileBytes)],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      writer.stdout!.on('data', (chunk: Buffer) => (writerOutput += chunk.toString('utf8')));
    }
  } catch (error) {
    killOnExit();
    process.off('exit', killOnExit);
    throw error;
  }
  const children = [...busy, ...(writer ? [writer] : [])];
  return {
    configuration,
    pids: children.map((child) => child.pid!),
    directory,
    async stop() {
      process.off('exit', killOnExit);
      const cpuMs = busy.map((child) => processCpuMilliseconds(child.pid!));
      await Promise.all(children.map((child) => stopChild(child)));
      if (directory) rmSync(directory, { recursive: true, force: true });
      const line = writerOutput.trim().split('\n').at(-1);
      return { cpuMs, ...(line ? { io: JSON.parse(line) as IoLoadReport } : {}) };
    },
  };
}

/** A process's CPU time (user + system), from fields 14 and 15 of /proc/<pid>/stat; 0 once it is gone. */
function processCpuMilliseconds(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // USER_HZ is 100 on Linux (proc(5): the kernel reports these in clock ticks of sysconf(_SC_CLK_TCK)).
  return ((Number(fields[11]) + Number(fields[12])) / 100) * 1000;
}
