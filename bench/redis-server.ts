import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianProgram } from './debian-program.ts';
import { freeLoopbackPort } from './free-loopback-port.ts';
import { stopChild } from './stop-child.ts';

/** A redis-server of the benchmark's own, on loopback; `stop` ends it and removes its folder. */
export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** The CPU time (user + system) the redis-server process has used since it started, in milliseconds. */
  cpuMilliseconds(): number;
  stop(): Promise<void>;
}

/**
 * How the redis-server keeps what it is told:
 * - `none`: nothing (`--save '' --appendonly no`); a crash loses every job. The peer row that
 *   measures the queue's work alone, the cheapest way to run a job.
 * - `fsync-every-write`: the append-only file, fsynced before each write is acknowledged
 *   (`--appendonly yes --appendfsync always`, no RDB snapshots); a job BullMQ was told was added is
 *   on disk, the promise the engine keeps.
 */
export type RedisPersistence = 'none' | 'fsync-every-write';

const persistenceArguments: Record<RedisPersistence, readonly string[]> = {
  none: ['--save', '', '--appendonly', 'no'],
  'fsync-every-write': ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
};

/**
 * Starts Debian's redis-server (installed if missing) on a free loopback port in a temp folder,
 * with `persistence` (none unless said).
 */
export async function startRedisServer(persistence: RedisPersistence = 'none'): Promise<RedisServer> {
  const program = ensureDebianProgram('redis-server', 'redis-server');
  // A port found free may be taken before redis binds it (another process on this shared
  // machine): a few attempts, each on a newly found port.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeLoopbackPort();
    const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-redis-'));
    try {
      const child = await spawnReady(program, port, directory, persistence);
      // A benchmark that exits without reaching its `stop` (process.exit after another one threw,
      // an uncaught error) leaves no server behind, nor its folder (an append-only file in it).
      const killOnExit = () => {
        child.kill('SIGKILL');
        rmSync(directory, { recursive: true, force: true });
      };
      process.once('exit', killOnExit);
      return {
        host: '127.0.0.1',
        port,
        cpuMilliseconds: () => processCpuMilliseconds(child.pid!),
        async stop() {
          process.off('exit', killOnExit);
          await stopChild(child);
          rmSync(directory, { recursive: true, force: true });
        },
      };
    } catch (error) {
      rmSync(directory, { recursive: true, force: true });
      lastError = error;
    }
  }
  throw new Error(`redis-server did not start on a loopback port in 5 attempts: ${(lastError as Error)?.message ?? lastError}`);
}

/** Spawns redis-server and resolves once it logs that it accepts connections. */
function spawnReady(program: string, port: number, directory: string, persistence: RedisPersistence): Promise<ChildProcess> {
  const child = spawn(
    program,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      directory,
      ...persistenceArguments[persistence],
      '--protected-mode',
      'yes',
      '--daemonize',
      'no',
      '--loglevel',
      'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server did not accept connections within 10 s; it said: ${output.slice(-500)}`)), 10_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.off('exit', exited);
        // Nothing reads its output from here on: a full pipe must not stall the server.
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.on('error', fail);
    const exited = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`redis-server exited (${signal ?? code}) before accepting connections; it said: ${output.slice(-500)}`));
    child.on('exit', exited);
  });
}

/** Clock ticks a second, the unit of /proc's CPU times (proc(5): divide by sysconf(_SC_CLK_TCK)). */
let clockTicksPerSecond: number | undefined;

/** A process's CPU time (user + system, every thread), from fields 14 and 15 of /proc/<pid>/stat. */
function processCpuMilliseconds(pid: number): number {
  clockTicksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / clockTicksPerSecond) * 1000;
}
