// The local variants at work: what a bubblewrap sandbox adds to running a command (the runtime with
// and without its launch hook, same workspace, same command), what one whole task costs through the
// local executor, capturing and checking the patch of a 5,000-file workspace, and what a reader in
// a fresh process (a task's worker) pays to get its manifest from a store of 100,000 packed ones.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RuntimeAdapterV1 } from '@cairn/core';
import { createLocalStorageProvider, sandboxLauncher } from '@cairn/local';
import { canonicalJsonBytes, manifestKey, sha256Digest } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { AttemptWorkspace, capturePatch, createCommandRuntime } from '@cairn/worker';
import { atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function runTimes(runtime: RuntimeAdapterV1, workspace: string, rounds: number): Promise<number[]> {
  const times: number[] = [];
  const sinks = { stdout: () => {}, stderr: () => {} };
  for (let round = 0; round < rounds; round++) {
    times.push(
      await timeMilliseconds(async () => {
        const result = await runtime.run({
          workspace,
          spec: { kind: 'command', argv: ['/bin/true'] },
          env: { PATH: '/usr/bin:/bin' },
          signal: new AbortController().signal,
          sinks,
        });
        if (result.exitCode !== 0) throw new Error(`/bin/true exited ${result.exitCode}`);
      }),
    );
  }
  return times;
}

async function sandboxOverhead(directory: string): Promise<BenchmarkRow[]> {
  // As an attempt's folder is laid out: the workspace inside a folder of its own.
  const attempt = join(directory, 'attempt');
  const workspace = join(attempt, 'workspace');
  mkdirSync(workspace, { recursive: true });
  chmodSync(directory, 0o711);
  const plain = createCommandRuntime();
  const sandboxed = createCommandRuntime({ launch: sandboxLauncher({ limits: { processes: 256, openFiles: 4096 }, uids: { first: 260_000, count: 1_000 } }) });
  await runTimes(plain, workspace, 5);
  await runTimes(sandboxed, workspace, 5);
  // In turns, so a busy neighbour weighs on both alike.
  const plainTimes: number[] = [];
  const sandboxTimes: number[] = [];
  for (let round = 0; round < 15; round++) {
    plainTimes.push(...(await runTimes(plain, workspace, 2)));
    sandboxTimes.push(...(await runTimes(sandboxed, workspace, 2)));
  }
  const overhead = median(sandboxTimes) - median(plainTimes);
  return [
    recorded('local.plain-process.p50-ms', round2(median(plainTimes)), 'ms'),
    recorded('local.sandboxed-process.p50-ms', round2(median(sandboxTimes)), 'ms'),
    atMost('local.sandbox-overhead.p50-ms', round2(overhead), 'ms', 15),
  ];
}

async function patchCapture(directory: string): Promise<BenchmarkRow[]> {
  const source = join(directory, 'source');
  for (let folder = 0; folder < 50; folder++) {
    mkdirSync(join(source, `dir-${folder}`), { recursive: true });
    for (let file = 0; file < 100; file++)
      writeFileSync(join(source, `dir-${folder}`, `file-${file}.ts`), `export const value${file} = ${folder * 100 + file};\n`.repeat(20));
  }
  const snapshot = await snapshotWorkspace(source);
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const attempt = await AttemptWorkspace.prepare({ root: directory, snapshot: snapshot.bytes, label: `bench-${round}` });
    // A typical agent's change: 50 edits, 10 new files, 10 deletions.
    for (let index = 0; index < 50; index++) writeFileSync(join(attempt.workspace, `dir-${index}`, 'file-0.ts'), `// edited ${round}\n`);
    for (let index = 0; index < 10; index++) writeFileSync(join(attempt.workspace, `dir-${index}`, `new-${index}.ts`), 'export {};\n');
    for (let index = 0; index < 10; index++) unlinkSync(join(attempt.workspace, `dir-${index + 10}`, 'file-1.ts'));
    let files = 0;
    times.push(await timeMilliseconds(async () => (files = (await capturePatch(attempt, { maxPatchBytes: 50_000_000 })).stats.filesChanged)));
    if (files !== 70) throw new Error(`the patch changed ${files} files, not 70`);
    rmSync(attempt.directory, { recursive: true, force: true });
  }
  return [atMost('worker.patch-capture-5000-files.ms', round2(median(times)), 'ms', 150)];
}

/**
 * A fresh provider's first get of one manifest among 100,000 packed ones (ADR 0025), against the
 * same get of a manifest kept as a file (a put without `deferFlush`): the worker of every local
 * task is such a reader. Its shard (1/256 of the packs) is read; the body of the record it wants,
 * alone, is hashed. The packs are in the page cache, as on a server that just wrote them.
 */
async function freshManifestRead(directory: string): Promise<BenchmarkRow[]> {
  const root = join(directory, 'storage');
  const writer = createLocalStorageProvider({ root });
  const count = 100_000;
  const keys: string[] = [];
  for (let index = 0; index < count; index++) {
    // About the size of a dispatch manifest (1.5 KB).
    const bytes = canonicalJsonBytes({ version: 'cairn.manifest/v1', index, padding: 'x'.repeat(1_400) });
    const key = manifestKey(sha256Digest(bytes));
    keys.push(key);
    await writer.put(key, bytes, { ifAbsent: true, deferFlush: true, contentType: 'application/json' });
  }
  const fileKeys = keys.slice(0, 20).map((key) => key.replace('manifests/', 'manifests/as-file-'));
  const plain = { contentType: 'application/json' };
  for (const key of fileKeys) await writer.put(key, canonicalJsonBytes({ key, padding: 'x'.repeat(1_400) }), plain);
  const packedTimes: number[] = [];
  const fileTimes: number[] = [];
  // In turns, a fresh provider for each get, different keys (so shards) each time.
  for (let round = 0; round < 20; round++) {
    const key = keys[round * 997]!;
    packedTimes.push(await timeMilliseconds(async () => void (await createLocalStorageProvider({ root }).get(key))));
    fileTimes.push(await timeMilliseconds(async () => void (await createLocalStorageProvider({ root }).get(fileKeys[round]!))));
  }
  return [
    recorded('local.storage.fresh-get-packed-100000.p50-ms', round2(median(packedTimes)), 'ms'),
    recorded('local.storage.fresh-get-file.p50-ms', round2(median(fileTimes)), 'ms'),
  ];
}

function round2(value: number): number {
  return Number(value.toFixed(2));
}

export default async function localBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-local-'));
  try {
    log('  /bin/true with and without a bubblewrap sandbox');
    const overhead = await sandboxOverhead(directory);
    log('  capturing the patch of a 5,000-file workspace');
    const patch = await patchCapture(directory);
    log('  a fresh reader getting one manifest of 100,000 packed ones, and one kept as a file');
    return [...overhead, ...patch, ...(await freshManifestRead(directory))];
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
