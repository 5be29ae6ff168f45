import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { loadConfigurationNamed, loadConfigurations, startBackgroundLoad, type RunningLoad } from '../background-load.ts';

/** Whether `pid` is a live process running the load's child program (not a zombie, not a reused pid). */
function isLoadProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('background-load-child.ts');
  } catch {
    return false;
  }
}

/** The nice level of `pid` (field 19 of /proc/<pid>/stat). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}

const directories: string[] = [];
const loads: RunningLoad[] = [];
afterEach(async () => {
  for (const load of loads.splice(0)) await load.stop();
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

test('cpu+io starts two busy processes at nice 0 and one that writes and fdatasyncs, and stop ends them all and removes its file', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'cairn-load-test-'));
  directories.push(parent);
  const load = startBackgroundLoad(loadConfigurations['cpu+io']!, parent);
  loads.push(load);
  expect(load.pids).toHaveLength(3);
  await until(() => load.pids.every(isLoadProcess), 'every load process runs');
  for (const pid of load.pids.slice(0, 2)) expect(niceOf(pid)).toBe(0);
  // The I/O process writes its file in a folder of its own under the folder it was given.
  const file = join(load.directory!, 'load');
  expect(load.directory!.startsWith(parent)).toBe(true);
  await until(() => existsSync(file) && statSync(file).size >= 2 * 1024 * 1024, 'the I/O load has written two blocks');
  await sleep(300);

  loads.splice(loads.indexOf(load), 1);
  const report = await load.stop();
  for (const pid of load.pids) expect(isLoadProcess(pid)).toBe(false);
  expect(existsSync(load.directory!)).toBe(false);
  expect(readdirSync(parent)).toEqual([]);
  // What it did: the busy ones spent CPU, the writer wrote whole blocks and timed each fdatasync.
  expect(report.cpuMs).toHaveLength(2);
  for (const cpuMs of report.cpuMs) expect(cpuMs).toBeGreaterThan(0);
  expect(report.io!.blocks).toBeGreaterThanOrEqual(2);
  expect(report.io!.bytes).toBe(report.io!.blocks * 1024 * 1024);
  expect(report.io!.fdatasyncP50Ms).toBeGreaterThan(0);
  expect(report.io!.fdatasyncMaxMs).toBeGreaterThanOrEqual(report.io!.fdatasyncP99Ms);
});

test('a bench killed before it stops its load leaves no load process behind', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'cairn-load-test-'));
  directories.push(parent);
  // A process of its own starts the load, says its pids, then is SIGKILLed: no exit handler runs.
  const module = pathToFileURL(join(import.meta.dirname, '..', 'background-load.ts')).href;
  const script = `import { startBackgroundLoad, loadConfigurations } from ${JSON.stringify(module)};
const load = startBackgroundLoad(loadConfigurations['cpu+io'], ${JSON.stringify(parent)});
process.stdout.write(JSON.stringify(load.pids) + '\\n');
setInterval(() => {}, 1000);`;
  const bench = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  bench.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  await until(() => output.includes('\n'), 'the bench process says its load pids', 10_000);
  const pids = JSON.parse(output) as number[];
  expect(pids).toHaveLength(3);
  await until(() => pids.every(isLoadProcess), 'every load process runs');
  const exited = new Promise((resolve) => bench.once('exit', resolve));
  bench.kill('SIGKILL');
  await exited;
  await until(() => pids.every((pid) => !isLoadProcess(pid)), 'every load process has left once its parent was killed');
  // The writer took its file and folder with it.
  await until(() => readdirSync(parent).length === 0, 'the I/O load removed its folder');
});

test('CAIRN_BENCH_LOAD names a configuration, none when unset, and an unknown name says which there are', () => {
  expect(loadConfigurationNamed(undefined)).toBeUndefined();
  expect(loadConfigurationNamed('')).toBeUndefined();
  expect(loadConfigurationNamed('cpu+io')).toMatchObject({ name: 'cpu+io', cpu: { processes: 2, nice: 0 }, io: { blockBytes: 1024 * 1024, intervalMs: 20 } });
  expect(loadConfigurationNamed('io')?.cpu).toBeUndefined();
  expect(() => loadConfigurationNamed('disk')).toThrow(/CAIRN_BENCH_LOAD="disk" names no load configuration: set it to one of cpu\+io, cpu, io/);
});
