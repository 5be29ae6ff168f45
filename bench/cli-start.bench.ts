// What starting `cairn` costs a client command, from the built `dist/cli.js` as users run it (its
// compiled code cached on disk, as every start but the first finds it), beside the floor of a bare
// `node -e 0`: the CPU (user + system) of `cairn --help`, of `cairn runs` and `cairn status` against
// a loopback port nothing listens on (refused at once: the start and the command, not a server),
// and of `cairn submit` up to its network call (the spec read and checked first). Medians of 15
// runs, the commands interleaved so that a neighbour's load touches them alike; the goal is at most
// 3× the bare start (issue 57). bench/cli-startup.ts breaks the same starts down by module.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atMostTimes, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const runs = 15;
const server = join(import.meta.dirname, '..', 'apps', 'server');
const cli = join(server, 'dist', 'cli.js');
// A port nothing listens on: a client command's request is refused at once.
const closed = 'http://127.0.0.1:9';

// Runs argv with its output discarded, then prints its CPU seconds (user + system). A first child
// of a fresh Python is charged ~50 ms of Python's own copy-on-write faults: `true` takes them first,
// and only what the command added is printed.
const childCpu = [
  'import resource, subprocess, sys',
  'cpu = lambda: (lambda usage: usage.ru_utime + usage.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))',
  "subprocess.run(['true'])",
  'before = cpu()',
  'subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)',
  'print(cpu() - before)',
].join('\n');

const commands: readonly { readonly name: string; readonly argv: readonly string[] }[] = [
  { name: 'node-e-0', argv: ['-e', '0'] },
  { name: 'help', argv: [cli, '--help'] },
  { name: 'runs', argv: [cli, 'runs', '--server', closed] },
  { name: 'status', argv: [cli, 'status', 'r-1', '--server', closed] },
  { name: 'submit', argv: [cli, 'submit', join(server, 'demo', 'run.yaml'), '--server', closed] },
];

export default async function cliStartBench({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'cairn-bench-cli-start-'));
  try {
    // As the tests run it: the machine-wide extra CA bundle costs every Node start ~60 ms, and its
    // own compile cache, filled by a first start of each command.
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: join(scratch, 'compile-cache'), XDG_CONFIG_HOME: scratch };
    for (const name of ['NODE_EXTRA_CA_CERTS', 'CAIRN_SERVER', 'CAIRN_CONTEXT', 'CAIRN_TOKEN', 'NODE_OPTIONS']) delete env[name];
    // The child's user + system CPU from getrusage(RUSAGE_CHILDREN), in microseconds: /usr/bin/time
    // prints hundredths of a second, as coarse as the floor itself (a 10 ms floor read 10 or 20).
    const cpuMs = (argv: readonly string[]): number => {
      const measured = spawnSync('python3', ['-c', childCpu, process.execPath, ...argv], { cwd: scratch, env, encoding: 'utf8' });
      if (measured.status !== 0) throw new Error(`measuring ${argv.join(' ')} failed: ${measured.stderr}`);
      return Number(measured.stdout.trim().split('\n').at(-1)) * 1000;
    };
    for (const command of commands) cpuMs(command.argv);
    log(`  ${runs} rounds of ${commands.map((command) => command.name).join(', ')} ...`);
    const samples = new Map(commands.map((command) => [command.name, [] as number[]]));
    for (let round = 0; round < runs; round++) for (const command of commands) samples.get(command.name)!.push(cpuMs(command.argv));
    const median = (name: string): number => {
      const sorted = [...samples.get(name)!].sort((left, right) => left - right);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    const floor = recorded('cli-start.node-e-0.cpu', median('node-e-0'), 'ms');
    return [floor, ...commands.slice(1).map((command) => atMostTimes(`cli-start.${command.name}.cpu`, median(command.name), 'ms', floor, 3))];
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
