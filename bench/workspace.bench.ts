// Cairn over workspaces of real size, measured as a user runs it: a `cairn serve` of the built CLI
// (local executor, bubblewrap sandboxes, local storage), two runs of 20 independent command items at
// concurrency 2 (the first fills the server's snapshot cache, and is reported on its own; the goals
// are on the second, what every later run of a workspace costs), each changing one line of a different file of a generated git repository of ~100,
// ~10,000 and ~40,000 files, submitted with the repository as its workspace. Its CPU is that of the
// server and of everything it starts (supervisors, sandboxes, git), from a cpuacct cgroup of its
// own; it is compared, in the same run on the same repositories, with the floor of such an item
// (overlay-floor.ts): an overlay mount, bubblewrap and a diff of the upper layer.
//
// CAIRN_BENCH_WORKSPACE_ITEMS=<n> runs n items a repository for a quick look (default 20; the
// per-run costs then weigh more per item); CAIRN_BENCH_WORKSPACE_SIZES=small,large runs only some.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSpecV1 } from '@cairn/core';
import { createCairnClient } from '@cairn/client';
import { removeWithMounts } from '@cairn/local';
import { CgroupProcessSampler } from './cgroup-process-sampler.ts';
import { CpuCgroup } from './cpu-cgroup.ts';
import { generateRepository, type GeneratedRepository, type RepositoryShape } from './generated-repository.ts';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { checkOneLineChange, oneLineEdit, type OneLineEdit } from './one-line-edit.ts';
import { runOverlayFloor } from './overlay-floor.ts';
import { SeededRandom } from './seeded-random.ts';
import { startServedCairn, startServedRunner } from './served-cairn.ts';

const sizes: readonly (RepositoryShape & { readonly name: string })[] = [
  { name: 'small', files: 100, bytes: 1_500_000, seed: 100 },
  { name: 'medium', files: 10_000, bytes: 15_000_000, seed: 10_000 },
  { name: 'large', files: 40_000, bytes: 50_000_000, seed: 40_000 },
];
const concurrency = 2;
/**
 * What runs the attempts: the server's own local executor, or one `cairn runner` beside it (ADR 0050),
 * and the same runner forking its programs itself (`--no-fork-server`), to weigh its fork server.
 */
const executors = ['local', 'runner', 'runner-no-fork-server'] as const;
type Executor = (typeof executors)[number];
/** How long the idle server's CPU is sampled, to take its rate off the run's. */
const idleSampleMs = 3_000;

function itemCount(): number {
  const text = process.env.CAIRN_BENCH_WORKSPACE_ITEMS;
  if (text === undefined || text === '') return 20;
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`CAIRN_BENCH_WORKSPACE_ITEMS must be a whole number of items, at least 1: not ${JSON.stringify(text)}`);
  return count;
}

/** The rows' name for what ran the attempts (`cairn` for the local executor, as before runners). */
const rowName = (via: Executor) => (via === 'local' ? 'cairn' : via);

function chosenExecutors(): readonly Executor[] {
  const text = process.env.CAIRN_BENCH_WORKSPACE_EXECUTORS;
  if (text === undefined || text === '') return executors;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(executors as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`CAIRN_BENCH_WORKSPACE_EXECUTORS names ${unknown.join(', ')}: the executors are ${executors.join(', ')}`);
  return executors.filter((name) => names.includes(name));
}

function chosenSizes(): typeof sizes {
  const text = process.env.CAIRN_BENCH_WORKSPACE_SIZES;
  if (text === undefined || text === '') return sizes;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !sizes.some((size) => size.name === name));
  if (unknown.length > 0)
    throw new Error(`CAIRN_BENCH_WORKSPACE_SIZES names ${unknown.join(', ')}: the sizes are ${sizes.map((size) => size.name).join(', ')}`);
  return sizes.filter((size) => names.includes(size.name));
}

/** `count` different text files, drawn with the repository's seed (so the same from run to run). */
function chooseEdits(repository: GeneratedRepository, seed: number, count: number): OneLineEdit[] {
  if (repository.textFiles.length < count) throw new Error(`the repository has ${repository.textFiles.length} text files, fewer than ${count} items`);
  const random = new SeededRandom(seed + 1);
  const chosen = new Set<string>();
  while (chosen.size < count) chosen.add(random.pick(repository.textFiles));
  return [...chosen].map((path, item) => oneLineEdit(path, item));
}

interface CairnMeasurement {
  readonly cpuMs: number;
  readonly wallMs: number;
  readonly uploadMs: number;
  /** The run's CPU by program, as sampled (see CgroupProcessSampler). */
  readonly programs: readonly { program: string; cpuMs: number }[];
}

/**
 * A fresh server in a group of its own; its idle CPU rate over `idleSampleMs`; then two runs of the
 * same items, each from the workspace's upload to the run's end, each item's state and patch read
 * back through the API: the first with the server's snapshot cache empty (it extracts the snapshot
 * once, as the floor's set-up does, and that is counted), the second over the cache (what every
 * later run of the workspace costs).
 */
async function runOnCairn(
  directory: string,
  repository: GeneratedRepository,
  edits: readonly OneLineEdit[],
  name: string,
  via: Executor,
): Promise<{ readonly first: CairnMeasurement; readonly again: CairnMeasurement; readonly idleCpuMsPerSecond: number }> {
  const cgroup = CpuCgroup.create(`workspace-${name}-${via}`);
  try {
    const server = await startServedCairn(join(directory, 'server'), cgroup.launcher(), { runners: via !== 'local' });
    const runner =
      via === 'local'
        ? undefined
        : await startServedRunner(server, join(directory, 'runner'), cgroup.launcher(), { slots: concurrency, forkServer: via === 'runner' });
    try {
      const client = createCairnClient({ baseUrl: server.base, token: server.token });
      // Start-up work (migrations, the first checkpoint) settles before the idle sample.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const idleBefore = cgroup.usageMs();
      const idleStarted = performance.now();
      await new Promise((resolve) => setTimeout(resolve, idleSampleMs));
      const idleCpuMsPerSecond = (cgroup.usageMs() - idleBefore) / ((performance.now() - idleStarted) / 1000);

      const measure = async (label: string): Promise<CairnMeasurement> => {
        const spec: RunSpecV1 = {
          version: 1,
          name: `workspace-${name}-${label}`,
          concurrency,
          ...(via === 'local' ? {} : { defaults: { executor: 'runners' } }),
          items: edits.map((edit, item) => ({ id: `item-${item}`, runtime: { kind: 'command', argv: [...edit.argv] } })),
        };
        const sampler = new CgroupProcessSampler(cgroup.path);
        const before = cgroup.usageMs();
        const started = performance.now();
        // As `client.submit(spec, { workspace })` does, timed in two steps.
        const { digest } = await client.uploadWorkspace(repository.directory);
        const uploadMs = performance.now() - started;
        const { runId } = await client.submit({ ...spec, workspace: { snapshot: digest } });
        const run = await client.waitForRun(runId);
        const wallMs = performance.now() - started;
        const runCpuMs = cgroup.usageMs() - before;
        const programs = sampler.stop();

        const items = await client.items(runId);
        const failed = items.filter((item) => item.state !== 'succeeded');
        if (run.state !== 'succeeded' || failed.length > 0 || items.length !== edits.length)
          throw new Error(
            `the ${name} run ended ${run.state}; items not succeeded: ${JSON.stringify(failed.map((item) => ({ itemId: item.itemId, state: item.state, failure: item.failure })))}`,
          );
        for (const [item, edit] of edits.entries()) checkOneLineChange(await client.patch(runId, `item-${item}`), edit, { header: true });
        return { cpuMs: Math.max(0, runCpuMs - idleCpuMsPerSecond * (wallMs / 1000)), wallMs, uploadMs, programs };
      };
      const first = await measure('first');
      const again = await measure('again');
      return { first, again, idleCpuMsPerSecond };
    } finally {
      await runner?.stop();
      await server.stop();
    }
  } finally {
    cgroup.remove();
  }
}

export default async function workspaceBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const count = itemCount();
  // /var/tmp, not the temp folder: /tmp may be a small tmpfs, and the largest repository with its
  // extracted copy, the server's snapshot and the attempts' workspaces takes a few hundred MB.
  const root = mkdtempSync('/var/tmp/cairn-bench-workspace-');
  // Sandboxes run as uids of their own and must pass through to the server's folders under it.
  chmodSync(root, 0o711);
  const rows: BenchmarkRow[] = [];
  const perItem = new Map<string, number>();
  try {
    for (const size of chosenSizes()) {
      const folder = join(root, size.name);
      log(`  generating the ${size.name} repository (~${size.files.toLocaleString('en-US')} files, ~${size.bytes / 1e6} MB)`);
      const repository = generateRepository(join(folder, 'repository'), size);
      const edits = chooseEdits(repository, size.seed, count);
      log(`    ${repository.files} files, ${(repository.bytes / 1e6).toFixed(1)} MB, commit ${repository.commit.slice(0, 12)}`);

      const lower = join(folder, 'lower');
      mkdirSync(lower);
      execFileSync('/bin/sh', ['-c', 'git -C "$0" archive --format=tar HEAD | tar -x -C "$1"', repository.directory, lower]);
      const floorGroup = CpuCgroup.create(`workspace-floor-${size.name}`);
      let floor: { cpuMs: number; wallMs: number };
      try {
        floor = await runOverlayFloor({ lower, work: join(folder, 'floor'), edits, concurrency, cgroup: floorGroup });
      } finally {
        floorGroup.remove();
      }
      log(`    floor: ${count} items, ${Math.round(floor.cpuMs)} ms CPU, ${Math.round(floor.wallMs)} ms wall`);

      rows.push(
        recorded(`workspace.${size.name}.files`, repository.files, 'files'),
        recorded(`workspace.${size.name}.floor.cpu-per-item-ms`, Number((floor.cpuMs / count).toFixed(1)), 'ms'),
      );
      for (const via of chosenExecutors()) {
        log(
          `    cairn serve, attempts on ${via === 'local' ? 'its local executor' : `a cairn runner beside it${via === 'runner' ? '' : ' without its fork server'}`}: two runs of ${count} items at concurrency ${concurrency}`,
        );
        const { first, again, idleCpuMsPerSecond } = await runOnCairn(join(folder, via), repository, edits, size.name, via);
        for (const [label, cairn] of [
          ['first run', first],
          ['again', again],
        ] as const) {
          log(
            `    cairn, ${label}: ${Math.round(cairn.cpuMs)} ms CPU (idle ${idleCpuMsPerSecond.toFixed(1)} ms/s taken off), ${Math.round(cairn.wallMs)} ms wall, upload ${Math.round(cairn.uploadMs)} ms`,
          );
          const sampled = cairn.programs.reduce((sum, { cpuMs }) => sum + cpuMs, 0);
          log(
            `    cairn's CPU by program (sampled every 100 ms): ${cairn.programs
              .filter(({ cpuMs }) => cpuMs >= 1)
              .map(({ program, cpuMs }) => `${program} ${Math.round(cpuMs)} ms`)
              .join(', ')}; processes shorter than a sample ${Math.round(cairn.cpuMs + idleCpuMsPerSecond * (cairn.wallMs / 1000) - sampled)} ms`,
          );
        }
        const cairnPerItem = again.cpuMs / count;
        perItem.set(`${via}.${size.name}`, cairnPerItem);
        const row = `workspace.${size.name}.${rowName(via)}`;
        rows.push(
          recorded(`${row}.first-run.cpu-per-item-ms`, Math.round(first.cpuMs / count), 'ms'),
          recorded(`${row}.first-run.wall-ms`, Math.round(first.wallMs), 'ms'),
          recorded(`${row}.cpu-per-item-ms`, Math.round(cairnPerItem), 'ms'),
          recorded(`${row}.wall-ms`, Math.round(again.wallMs), 'ms'),
          atMost(`${row}-vs-floor.ratio`, Number((cairnPerItem / (floor.cpuMs / count)).toFixed(2)), 'x', 2),
        );
      }
      rmSync(folder, { recursive: true, force: true });
    }
    for (const via of chosenExecutors()) {
      const small = perItem.get(`${via}.small`);
      const large = perItem.get(`${via}.large`);
      if (small !== undefined && large !== undefined)
        rows.push(atMost(`workspace.large-vs-small.${rowName(via)}.ratio`, Number((large / small).toFixed(2)), 'x', 1.5));
    }
    return rows;
  } finally {
    // A server or floor item that failed half-way may leave a workspace mounted under it.
    removeWithMounts(root);
  }
}
