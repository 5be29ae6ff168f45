// `pnpm bench [--json] [filter]`: runs every `bench/*.bench.ts` against the built packages
// (dist, as users get them) and prints one table, or with --json one array of
// {name, value, unit, goal, ok}. Each bench file default-exports an async function that returns
// such rows. A full run writes them to bench/results.json too. Exits non-zero when a benchmark
// throws; a missed goal is reported, not fatal, because these shared machines are noisy
// (compare ratios within one run).
// `CAIRN_BENCH_LOAD=cpu+io pnpm bench engine` runs the benches with a fixed CPU and I/O load beside
// them for their whole duration (`cpu` or `io` for one part; bench/background-load.ts says what
// each is and why): every row's name then ends in `@<load>`, so the quiet table and the loaded one
// sit side by side, and a full run writes bench/results@<load>.json instead of results.json.
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { engineNodeFlags } from '@cairn/engine';
import { describeLoad, loadConfigurationNamed, startBackgroundLoad } from './background-load.ts';

// Every bench runs under the engine's node flags, as `cairn serve` runs the engine (and as the
// benches' child processes already did): the rows timed in this process, the peers beside the
// engine (BullMQ's worker, the server's clients) included, so a ratio compares them on the same
// heap settings. Without them the young generation grows to 128 MB here and every row but the
// children's measured another process than the one Cairn ships.
if (!engineNodeFlags.every((flag) => process.execArgv.includes(flag))) {
  const child = spawnSync(process.execPath, [...process.execArgv, ...engineNodeFlags, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(child.status ?? 1);
}

const benchDirectory = dirname(fileURLToPath(import.meta.url));
const argumentsGiven = process.argv.slice(2);
const asJson = argumentsGiven.includes('--json');
const filter = argumentsGiven.find((argument) => !argument.startsWith('--'));
const load = loadConfigurationNamed(process.env.CAIRN_BENCH_LOAD);

const files = readdirSync(benchDirectory)
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => !filter || file.includes(filter))
  .sort();

const rows = [];
let crashed = false;
const log = asJson ? () => {} : (text) => process.stderr.write(`${text}\n`);
// The machine's load average (1, 5 and 15 minutes) at the start and the end, before the bench's own
// load and after it stopped: how quiet a "quiet" run was on this shared machine.
const loadAverage = { atStart: loadavg().map((value) => Number(value.toFixed(2))) };
log(`load average ${loadAverage.atStart.join(', ')}`);
// The load starts before the first bench file and stops after the last, so it is beside every
// measured round, the peers' servers and their start-up included.
const runningLoad = load ? startBackgroundLoad(load) : undefined;
if (load) log(`load ${load.name}: ${describeLoad(load)} (pids ${runningLoad.pids.join(', ')})`);
let loadReport;
try {
  for (const file of files) {
    log(`running ${file} ...`);
    try {
      const module = await import(pathToFileURL(join(benchDirectory, file)).href);
      rows.push(...(await module.default({ log })));
    } catch (error) {
      crashed = true;
      process.stderr.write(`${file} failed: ${error?.stack ?? error}\n`);
    }
  }
} finally {
  loadReport = await runningLoad?.stop();
}
loadAverage.atEnd = loadavg().map((value) => Number(value.toFixed(2)));
log(`load average ${loadAverage.atEnd.join(', ')}`);
if (load) {
  // What the load did, so a loaded table says how hard it pressed (the busy processes' CPU, the
  // writer's fdatasyncs and how long they took).
  log(`load ${load.name} stopped: ${JSON.stringify(loadReport)}`);
  for (const row of rows) {
    row.name = `${row.name}@${load.name}`;
    row.load = load.name;
  }
}

if (asJson) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
} else {
  const header = ['benchmark', 'value', 'unit', 'goal', 'ok'];
  const table = rows.map((row) => [row.name, formatValue(row.value), row.unit, row.goal ?? '', row.ok === null ? '-' : row.ok ? 'yes' : 'NO']);
  process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
  for (const line of table) process.stdout.write(`| ${line.join(' | ')} |\n`);
}
// A full run also records its rows in bench/results.json, so the numbers of each change can be
// compared in review; a filtered run is partial and leaves the record alone.
if (!filter && !crashed) {
  const record = {
    measuredAt: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadAverage,
    ...(load ? { load: { name: load.name, description: describeLoad(load), report: loadReport } } : {}),
    rows,
  };
  writeFileSync(join(benchDirectory, load ? `results@${load.name}.json` : 'results.json'), `${JSON.stringify(record, null, 2)}\n`);
}
process.exit(crashed ? 1 : 0);

function formatValue(value) {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}
