// Where the Node processes of the workspace bench spend an item's CPU (issue 53): a `cairn serve`
// and a `cairn runner` beside it, each under `node --cpu-prof`, run the bench's one-line-edit items
// twice over one generated repository (the first run fills the runner's snapshot cache); only the
// CPU profile samples taken during the second run are counted (what every later run costs), and
// each process's self time is summed by where the code lives (a package of Cairn, a dependency,
// Node's own modules, or V8: GC, the compiler, "(program)").
//
// node bench/workspace-profile.ts [files] [items]   (root: bubblewrap sandboxes and overlay mounts)
// Prints one table per process; the profiles stay in the printed folder for a closer look
// (Chrome DevTools or VS Code open .cpuprofile files).
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { removeWithMounts } from '@cairn/local';
import { generateRepository } from './generated-repository.ts';
import { checkOneLineChange, oneLineEdit } from './one-line-edit.ts';
import { SeededRandom } from './seeded-random.ts';
import { startServedCairn, startServedRunner } from './served-cairn.ts';

interface CpuProfile {
  readonly nodes: readonly { id: number; callFrame: { functionName: string; url: string } }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
}

/** Where a frame's code lives: `@cairn/<package>`, a dependency's name, `node:` internals, or V8's own entries. */
function place(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const cairn = /\/(?:packages|apps)\/([^/]+)\/dist\//.exec(url);
  if (cairn) return `@cairn/${cairn[1]}`;
  const dependency = /\/node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(url);
  return dependency ? dependency[1]! : url;
}

/** Self time by place and by function, in ms, of the samples taken between `from` and `to` (µs, the monotonic clock). */
function selfTime(profile: CpuProfile, from: number, to: number): { byPlace: Map<string, number>; byFunction: Map<string, number> } {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let time = profile.startTime;
  for (const [index, id] of profile.samples.entries()) {
    const delta = profile.timeDeltas[index]!;
    time += delta;
    if (time < from || time > to) continue;
    const frame = nodes.get(id)!;
    const where = place(frame.url, frame.functionName);
    byPlace.set(where, (byPlace.get(where) ?? 0) + delta / 1000);
    const name = `${where} ${frame.functionName || '(anonymous)'}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta / 1000);
  }
  return { byPlace, byFunction };
}

/**
 * The top `top` entries of `entries` per item. "(idle)" (the main thread waiting) is left out; a
 * sample in a blocking call (fdatasync, a fork) counts as that call, so this is the main thread's
 * busy time, not only its CPU.
 */
function table(title: string, entries: Map<string, number>, items: number, top: number): string {
  const busy = [...entries].filter(([name]) => !name.startsWith('(idle)'));
  const total = busy.reduce((sum, [, value]) => sum + value, 0);
  const rows = busy.sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${title}: ${(total / items).toFixed(1)} ms an item busy (main thread)`,
    ...rows.map(([name, ms]) => `  ${(ms / items).toFixed(1).padStart(6)} ms  ${((100 * ms) / total).toFixed(0).padStart(3)} %  ${name}`),
  ].join('\n');
}

const files = Number(process.argv[2] ?? 100);
const items = Number(process.argv[3] ?? 40);
if (!Number.isInteger(files) || files < 10 || !Number.isInteger(items) || items < 1)
  throw new Error('usage: node bench/workspace-profile.ts [files, at least 10] [items, at least 1]');
const root = mkdtempSync('/var/tmp/cairn-bench-workspace-profile-');
chmodSync(root, 0o711);
const profiles = mkdtempSync('/var/tmp/cairn-workspace-profiles-');
// `node --cpu-prof` writes the profile when the process exits: each process is started through a
// shell that puts the flags before the rest of its command line.
const profiled = ['/bin/sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${profiles} "$@"`];
try {
  const repository = generateRepository(join(root, 'repository'), { files, bytes: files * 1_500, seed: files });
  const random = new SeededRandom(files + 1);
  const chosen = new Set<string>();
  while (chosen.size < Math.min(items, repository.textFiles.length)) chosen.add(random.pick(repository.textFiles));
  const edits = [...chosen].map((path, item) => oneLineEdit(path, item));
  const server = await startServedCairn(join(root, 'server'), profiled, { runners: true });
  const runner = await startServedRunner(server, join(root, 'runner'), profiled, { slots: 2 });
  const client = createCairnClient({ baseUrl: server.base, token: server.token });
  let window: { from: number; to: number } | undefined;
  try {
    for (const label of ['first', 'again']) {
      const spec: RunSpecV1 = {
        version: 1,
        name: `workspace-profile-${label}`,
        concurrency: 2,
        defaults: { executor: 'runners' },
        items: edits.map((edit, item) => ({ id: `item-${item}`, runtime: { kind: 'command', argv: [...edit.argv] } })),
      };
      const from = Number(process.hrtime.bigint() / 1000n);
      const { runId } = await client.submit(spec, { workspace: repository.directory });
      const run = await client.waitForRun(runId);
      if (run.state !== 'succeeded') throw new Error(`the ${label} run ended ${run.state}`);
      for (const [item, edit] of edits.entries()) checkOneLineChange(await client.patch(runId, `item-${item}`), edit, { header: true });
      window = { from, to: Number(process.hrtime.bigint() / 1000n) };
    }
  } finally {
    await runner.stop();
    await server.stop();
  }
  console.log(`${repository.files} files, ${edits.length} items a run; profiles in ${profiles}`);
  for (const file of readdirSync(profiles).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(profiles, file), 'utf8')) as CpuProfile;
    const { byPlace, byFunction } = selfTime(profile, window!.from, window!.to);
    console.log(`\n${file}\n${table('by place', byPlace, edits.length, 15)}\n${table('by function', byFunction, edits.length, 25)}`);
  }
} finally {
  removeWithMounts(root);
}
