// `node bench/cli-startup.ts [--runs N] [--demo <folder>] [--before <folder>]`: what a `cairn`
// call costs before and while its command runs, as the tests spawn it (the source,
// `--conditions=@cairn/source cli.ts`) and as users get it (the built `dist/cli.js`; build first:
// `pnpm --filter @cairn/server build`). For each command: the modules it loads (files, and how many
// of them zod's, the engine's, ...), and the median wall and CPU time (user + system, from
// /usr/bin/time) over N runs, the runs of every command interleaved so that a neighbour's load
// touches them alike. `cairn` keeps its compiled code on disk (cli.ts): every run but the first of
// each finds it, as the tests' runs do. Not a `*.bench.ts`: `pnpm bench` does not run it. Its table
// goes to docs/performance/cli-startup.md by hand.
//
// `--before <folder>` measures an earlier `cairn` beside this one, interleaved: a folder inside
// apps/server (so that it resolves the same packages) holding that commit's `src` and `dist`, e.g.
// `git archive <commit> src | tar -x -C apps/server/before` and a copy of its built `dist`.
//
// `cairn verify` and the command run in a server's folder need a server folder with a bundle:
// `--demo <folder>` names one made by `cairn --json demo --directory <folder>` (made here, ~20 s,
// when not given).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const repository = join(import.meta.dirname, '..');
const server = join(repository, 'apps', 'server');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, demo: { type: 'string' }, before: { type: 'string' } } });
const entriesOf = (folder: string) => ({
  source: ['--conditions=@cairn/source', join(folder, 'src', 'cli', 'cli.ts')],
  built: [join(folder, 'dist', 'cli.js')],
});
const entries: Record<string, readonly string[]> = {
  ...entriesOf(server),
  ...(values.before === undefined
    ? {}
    : Object.fromEntries(Object.entries(entriesOf(resolve(values.before))).map(([mode, entry]) => [`${mode} (before)`, entry]))),
};
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'cli-startup-'));
chmodSync(scratch, 0o711);
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

// The machine-wide extra CA bundle costs ~60 ms per Node start; the tests leave it out too.
const env = { ...process.env };
delete env['NODE_EXTRA_CA_CERTS'];

const demo = values.demo ?? makeDemo();
const bundle = readdirSync(demo).find((file) => file.endsWith('.bundle.json'));
if (bundle === undefined) throw new Error(`${demo} holds no *.bundle.json: give a folder made by \`cairn --json demo --directory <folder>\`.`);
const keyId = JSON.parse(execFileSync(process.execPath, [...entries['built']!, '--json', 'key', 'id'], { cwd: demo, env, encoding: 'utf8' })) as {
  keyId: string;
};

// A loopback port nothing listens on: a client command's request is refused at once (exit 5).
const closed = 'http://127.0.0.1:9';

const commands: readonly { name: string; args: readonly string[]; cwd: string }[] = [
  { name: 'cairn --help', args: ['--help'], cwd: scratch },
  { name: 'cairn runs --server (unreachable)', args: ['runs', '--server', closed], cwd: scratch },
  { name: 'cairn status --server (unreachable)', args: ['status', 'r-1', '--server', closed], cwd: scratch },
  { name: 'cairn validate run.yaml', args: ['validate', join(server, 'demo', 'run.yaml')], cwd: scratch },
  { name: 'cairn verify bundle (offline)', args: ['verify', join(demo, bundle), '--trusted-key', keyId.keyId], cwd: scratch },
  { name: "cairn runs in a server's folder", args: ['runs'], cwd: demo },
];

function makeDemo(): string {
  const folder = join(scratch, 'demo');
  process.stderr.write(`making a server folder with a bundle: cairn demo --directory ${folder} ...\n`);
  execFileSync(process.execPath, [...entries['built']!, '--json', 'demo', '--directory', folder], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  return folder;
}

// A module hook that counts the files a process loads, by package, written to a file at exit.
const counter = join(scratch, 'count-modules.mjs');
writeFileSync(
  counter,
  `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const loaded = new Set();
registerHooks({ load(url, context, next) { if (url.startsWith('file:')) loaded.add(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.CLI_STARTUP_MODULES, JSON.stringify([...loaded])));
`,
);

/** The package a module file belongs to (`zod`, `@cairn/engine`), or `@cairn/server` for the server's own. */
function packageOf(url: string): string {
  const inNodeModules = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inNodeModules) return inNodeModules[1]!;
  const inRepository = /\/(?:packages|apps)\/([^/]+)\//.exec(url);
  return inRepository ? `@cairn/${inRepository[1]}` : 'other';
}

function modulesOf(entry: readonly string[], command: (typeof commands)[number]): { total: number; byPackage: Map<string, number> } {
  const file = join(scratch, 'modules.json');
  spawnSync(process.execPath, ['--import', counter, ...entry, ...command.args], { cwd: command.cwd, env: { ...env, CLI_STARTUP_MODULES: file } });
  const urls = JSON.parse(readFileSync(file, 'utf8')) as string[];
  const byPackage = new Map<string, number>();
  for (const url of urls) byPackage.set(packageOf(url), (byPackage.get(packageOf(url)) ?? 0) + 1);
  return { total: urls.length, byPackage };
}

function timed(entry: readonly string[], command: (typeof commands)[number]): { wallMs: number; cpuMs: number } {
  const times = join(scratch, 'time.txt');
  const started = process.hrtime.bigint();
  spawnSync('/usr/bin/time', ['-o', times, '-f', '%U %S', process.execPath, ...entry, ...command.args], { cwd: command.cwd, env });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const [user, system] = readFileSync(times, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wallMs, cpuMs: (user! + system!) * 1000 };
}

const median = (numbers: readonly number[]): number => {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const shown = ['zod', '@cairn/engine', '@cairn/oidc', 'openid-client', '@cairn/audit', '@aws-sdk/client-s3', 'yaml'];
const samples = new Map<string, { wallMs: number[]; cpuMs: number[] }>();
const keyOf = (mode: string, name: string): string => `${mode}\t${name}`;
for (let run = 0; run < runs; run++) {
  for (const [mode, entry] of Object.entries(entries)) {
    for (const command of commands) {
      const sample = timed(entry, command);
      const kept = samples.get(keyOf(mode, command.name)) ?? { wallMs: [], cpuMs: [] };
      kept.wallMs.push(sample.wallMs);
      kept.cpuMs.push(sample.cpuMs);
      samples.set(keyOf(mode, command.name), kept);
    }
  }
}

const lines = [
  `| entry | command | modules | ${shown.join(' | ')} | wall ms (median of ${runs}) | CPU ms (median) |`,
  `|---|---|--:|${shown.map(() => '--:|').join('')}--:|--:|`,
];
for (const command of commands) {
  for (const [mode, entry] of Object.entries(entries)) {
    const { total, byPackage } = modulesOf(entry, command);
    const kept = samples.get(keyOf(mode, command.name))!;
    lines.push(
      `| ${mode} | ${command.name} | ${total} | ${shown.map((name) => byPackage.get(name) ?? 0).join(' | ')} | ${Math.round(median(kept.wallMs))} | ${Math.round(median(kept.cpuMs))} |`,
    );
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
