// The merge runtime through a real worker and real git: producers run as command items over one
// snapshot, each leaving its patch in storage, then a merge item's manifest names their patches.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DispatchManifest, ManifestInput, MergeRuntimeSpec, ResultRecord } from '@cairn/core';
import { keyIdOf, signManifest } from '@cairn/audit';
import { createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { blobKey, canonicalJsonBytes, digestOfJson, manifestKey } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/protocol/workspace';
import { expect, test } from 'vitest';
import { createCommandRuntime } from '../runtime/command-runtime.ts';
import { git, temporaryDirectory } from '../testing/worker.test-support.ts';
import { createWorker } from '../worker/worker.ts';

const lines = (count: number) => Array.from({ length: count }, (_, index) => `line ${index + 1}`).join('\n') + '\n';

/** A snapshot of `files`, a worker with only the command runtime, and items run over the snapshot. */
async function setUp(files: Record<string, string>) {
  const storage = createInMemoryStorageProvider();
  const signer = createInMemorySigner();
  const publicKey = await signer.publicKey();
  const trustedKeys = [{ keyId: keyIdOf(publicKey), algorithm: signer.algorithm, publicKey: Buffer.from(publicKey).toString('base64') }];
  const source = temporaryDirectory();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(source, path, '..'), { recursive: true });
    writeFileSync(join(source, path), content);
  }
  const snapshot = await snapshotWorkspace(source);
  await storage.put(blobKey(snapshot.digest), snapshot.bytes);
  // No "merge" runtime: a merge is the worker's own.
  const worker = createWorker({ storage, trustedKeys, runtimes: { command: createCommandRuntime({ killGraceMs: 200 }) }, workRoot: temporaryDirectory() });
  const patches = new Map<string, ManifestInput>();

  async function runItem(
    itemId: string,
    runtime: DispatchManifest['runtime'],
    inputs: DispatchManifest['inputs'] = {},
    apply: string[] = [],
  ): Promise<ResultRecord> {
    const manifest: DispatchManifest = {
      version: 'cairn.manifest/v1',
      runId: 'run-1',
      itemId,
      attempt: 1,
      fencingToken: 1,
      executionId: `run-1/${itemId}/1`,
      runtime,
      workspace: snapshot.digest,
      inputs,
      apply,
      env: {},
      secretNames: [],
      limits: { timeoutMs: 10_000, network: false, maxPatchBytes: 1_000_000, maxLogBytes: 100_000 },
      effect: 'read-impure',
      issuedAt: '2026-11-27T12:00:00.000Z',
    };
    const envelope = await signManifest(manifest, signer);
    const manifestDigest = digestOfJson(envelope);
    await storage.put(manifestKey(manifestDigest), canonicalJsonBytes(envelope));
    const record = await worker.run({ executionId: manifest.executionId, manifestDigest });
    if (record.artifacts.patch) patches.set(itemId, { from: itemId, select: 'patch', digest: record.artifacts.patch });
    return record;
  }

  /** A command item whose shell script edits the workspace; its patch is kept for merges. */
  const produce = async (itemId: string, script: string, apply: string[] = []) => {
    const inputs = Object.fromEntries(apply.map((from) => [from, patches.get(from)!]));
    const record = await runItem(itemId, { kind: 'command', argv: ['/bin/sh', '-c', script] }, inputs, apply);
    expect(record.outcome, JSON.stringify(record.failure)).toBe('succeeded');
    return record;
  };

  /** A merge item of `from`, with the patches of those that made one, as the engine names them. */
  const merge = (from: string[], spec: Partial<MergeRuntimeSpec> = {}) =>
    runItem('merge', { kind: 'merge', from, ...spec }, Object.fromEntries(from.flatMap((item) => (patches.has(item) ? [[item, patches.get(item)!]] : []))));

  const text = async (digest: string | undefined) => (digest === undefined ? undefined : Buffer.from((await storage.get(blobKey(digest)))!).toString('utf8'));

  /** A checkout of the snapshot with `patch` applied as the worker hands it back: the files after. */
  const applied = (patch: string, paths: string[]) => {
    const checkout = temporaryDirectory();
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(checkout, path, '..'), { recursive: true });
      writeFileSync(join(checkout, path), content);
    }
    git(checkout, ['init', '-q']);
    git(checkout, ['add', '-A']);
    git(checkout, ['commit', '-qm', 'snapshot']);
    git(checkout, ['apply', '--index'], Buffer.from(patch));
    return Object.fromEntries(paths.map((path) => [path, readFileSync(join(checkout, path), 'utf8')]));
  };

  return { produce, merge, text, applied, patches };
}

test(
  'three patches that do not conflict (two in one file, one adding a file, one on top of another) merge into one patch: their union',
  { timeout: 30_000 },
  async () => {
    const { produce, merge, text, applied } = await setUp({ 'src/a.txt': lines(20), 'src/b.txt': 'bee\n' });
    await produce('top', `sed -i 's/^line 2$/line two/' src/a.txt`);
    await produce('bottom', `sed -i 's/^line 5$/line five/; s/^line 19$/line nineteen/' src/a.txt && printf 'new\\n' > src/new.txt`);
    // Made on top of bottom's patch (applied), so its own patch holds only its change.
    await produce('after-bottom', `sed -i 's/^new$/newer/' src/new.txt && rm src/b.txt`, ['bottom']);
    await produce('nothing', 'true');

    const record = await merge(['top', 'bottom', 'nothing', 'after-bottom']);
    expect(record.outcome, JSON.stringify(record.failure)).toBe('succeeded');
    expect(record.exitCode).toBe(0);
    expect(record.patchStats).toEqual({ filesChanged: 3, bytes: expect.any(Number) });
    const patch = (await text(record.artifacts.patch))!;
    const expected = lines(20).replace('line 2\n', 'line two\n').replace('line 5\n', 'line five\n').replace('line 19\n', 'line nineteen\n');
    expect(applied(patch, ['src/a.txt', 'src/new.txt'])).toEqual({ 'src/a.txt': expected, 'src/new.txt': 'newer\n' });
    expect(patch).toContain('deleted file mode 100644');
    expect(patch).toContain('+++ b/src/new.txt');
    const stdout = (await text(record.artifacts.stdout))!;
    expect(stdout).toContain('[merge] top: merged');
    expect(stdout).toContain('[merge] nothing: changed nothing, skipped');
    expect(stdout).toContain('[merge] merged 3 of 4 patches (1 changed nothing)');
  },
);

test(
  'two patches changing the same lines: failed with CAIRN_MERGE_CONFLICT naming the producer, the path and the hunks; no patch',
  { timeout: 30_000 },
  async () => {
    const { produce, merge, text } = await setUp({ 'src/a.txt': lines(20), 'src/b.txt': 'bee\n' });
    await produce('first', `sed -i 's/^line 10$/line ten (first)/' src/a.txt && printf 'c\\n' > src/c.txt`);
    await produce('second', `sed -i 's/^line 10$/line ten (second)/' src/a.txt && printf 'bee!\\n' > src/b.txt`);

    const record = await merge(['first', 'second']);
    expect(record.outcome).toBe('failed');
    expect(record.artifacts.patch).toBeUndefined();
    expect(record.failure).toMatchObject({ code: 'CAIRN_MERGE_CONFLICT', exitCode: null });
    const message = record.failure!.message;
    expect(message).toContain('The patch of item "second" (runtime.from[1]) conflicts with what was merged before it ("first") at path: src/a.txt.');
    expect(message).toContain(
      [
        '--- src/a.txt',
        'line 8',
        'line 9',
        '<<<<<<< merged so far',
        'line ten (first)',
        '=======',
        'line ten (second)',
        '>>>>>>> second',
        'line 11',
        'line 12',
      ].join('\n'),
    );
    expect(message).not.toContain('src/b.txt');
    const stderr = (await text(record.artifacts.stderr))!;
    expect(stderr).toContain('>>>>>>> second');
  },
);

test(
  'a path one producer deleted and another changed: the reason git gives, beside the hunks of the paths that did conflict',
  { timeout: 30_000 },
  async () => {
    const { produce, merge } = await setUp({ 'src/a.txt': lines(20), 'src/b.txt': 'bee\n' });
    await produce('deletes', `rm src/b.txt && sed -i 's/^line 3$/three/' src/a.txt`);
    await produce('changes', `printf 'bee!\\n' > src/b.txt && sed -i 's/^line 3$/THREE/' src/a.txt`);

    const record = await merge(['deletes', 'changes']);
    expect(record.failure).toMatchObject({ code: 'CAIRN_MERGE_CONFLICT' });
    const message = record.failure!.message;
    expect(message).toContain('at 2 paths: src/a.txt, src/b.txt.');
    expect(message).toContain('--- src/b.txt (this patch changes it; what was merged before deleted or renamed it; git: does not exist in index)');
    expect(message).toContain(['<<<<<<< merged so far', 'three', '=======', 'THREE', '>>>>>>> changes'].join('\n'));
  },
);

test('hunks are bounded in the message, every path still named', { timeout: 30_000 }, async () => {
  const big = Array.from({ length: 40 }, (_, index) => `file${index}.txt`);
  const { produce, merge, text } = await setUp(Object.fromEntries(big.map((name) => [name, lines(400)])));
  await produce('one', `for f in *.txt; do sed -i 's/^line/one/' $f; done`);
  await produce('two', `for f in *.txt; do sed -i 's/^line/two/' $f; done`);
  const record = await merge(['one', 'two']);
  expect(record.failure?.code).toBe('CAIRN_MERGE_CONFLICT');
  expect(Buffer.byteLength(record.failure!.message)).toBeLessThan(12_000);
  expect(record.failure!.message).toContain('at 40 paths: file0.txt, file1.txt,');
  expect(record.failure!.message).toContain('and 20 more');
  expect(record.failure!.message).toMatch(/more bytes of hunks in the item's stderr log/);
  expect((await text(record.artifacts.stderr))!.length).toBeGreaterThan(100_000);
});
