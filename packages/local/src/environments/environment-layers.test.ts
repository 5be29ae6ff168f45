// Warm environments on the local executor's layers (ADR 0056), for real: the snapshot cache, the
// environment cache beside it, setups in bubblewrap over an idmapped overlay on a volume of their
// disk limit, attempts laid over snapshot + environment. Root only (overlays, idmapped mounts).
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvironmentSpec } from '@cairn/core';
import { capturePatch } from '@cairn/worker';
import { afterEach, describe, expect, test } from 'vitest';
import { rejection } from '../testing/local.test-support.ts';
import { environmentHarness, removeHarnesses, snapshotOf } from './environment-layers.test-support.ts';

afterEach(removeHarnesses);

// The setup writes a dependency folder from the lockfile, rewrites a tracked file, and says so.
const setup: EnvironmentSpec = {
  setup: {
    argv: [
      '/bin/sh',
      '-c',
      'mkdir -p node_modules/dep && echo "installed from $(cat package-lock.json)" > node_modules/dep/index.js && echo "# normalised" >> README.md && echo setup ran',
    ],
  },
};
const project = (lock: string, source = 'console.log(1);\n') =>
  snapshotOf({ 'package-lock.json': lock, 'package.json': '{"name":"app"}\n', 'README.md': '# app\n', 'src/app.js': source });

describe('environment layers', () => {
  test('the first attempt runs the setup; the next ones reuse its layer and see its files', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const snapshot = project('{"lock":1}');
    const first = await harness.attempt(snapshot, setup);
    expect(first.environment).toMatchObject({
      built: true,
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
    expect(Buffer.from(await first.environment!.log()).toString('utf8')).toBe('setup ran\n');
    expect(readFileSync(join(first.workspace.workspace, 'node_modules/dep/index.js'), 'utf8')).toBe('installed from {"lock":1}\n');
    const later = [];
    // Issue 59's measure: the first item runs the setup, the next 10 reuse it.
    for (let index = 0; index < 10; index++) later.push(await harness.attempt(snapshot, setup));
    expect(later.map((attempt) => attempt.environment?.built)).toEqual(Array.from({ length: 10 }, () => false));
    expect(new Set(later.map((attempt) => attempt.environment?.digest))).toEqual(new Set([first.environment!.digest]));
    expect(harness.environmentCache.counts).toMatchObject({ misses: 1, hits: 10, failures: 0 });
    expect(harness.environmentCache.counts.setupSeconds).toBeGreaterThan(0);
    for (const attempt of later) expect(existsSync(join(attempt.workspace.workspace, 'node_modules/dep/index.js'))).toBe(true);
    // One layer in the cache, its log kept beside it.
    const entries = readdirSync(harness.environmentCache.directory).filter((name) => /^[0-9a-f]{64}$/.test(name));
    expect(entries).toEqual([first.environment!.digest.slice('sha256:'.length)]);
    expect(readFileSync(join(harness.environmentCache.directory, entries[0]!, 'setup.log'), 'utf8')).toBe('setup ran\n');
  });

  test('a lockfile change makes a new layer; a source change with the same lockfile reuses it', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const one = await harness.attempt(project('{"lock":1}'), setup);
    const sourceChanged = await harness.attempt(project('{"lock":1}', 'console.log(2);\n'), setup);
    const lockChanged = await harness.attempt(project('{"lock":2}'), setup);
    expect(sourceChanged.environment).toMatchObject({ built: false, digest: one.environment!.digest });
    expect(lockChanged.environment).toMatchObject({ built: true });
    expect(lockChanged.environment!.digest).not.toBe(one.environment!.digest);
    expect(readFileSync(join(lockChanged.workspace.workspace, 'node_modules/dep/index.js'), 'utf8')).toBe('installed from {"lock":2}\n');
    expect(harness.environmentCache.counts).toMatchObject({ misses: 2, hits: 1 });
    // Another argv is another key too.
    const other = await harness.attempt(project('{"lock":1}'), { setup: { argv: [...setup.setup.argv, 'again'] } });
    expect(other.environment).toMatchObject({ built: true });
  });

  test('nothing the setup wrote enters the patch, even where the attempt changed it', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const { workspace } = await harness.attempt(project('{"lock":1}'), setup);
    const root = workspace.workspace;
    writeFileSync(join(root, 'src/app.js'), 'console.log("changed");\n');
    writeFileSync(join(root, 'src/new.js'), 'export {};\n');
    // Into the environment's files: an edit, a new file in its folder, a removal, a new one beside.
    appendFileSync(join(root, 'node_modules/dep/index.js'), '// patched by the agent\n');
    writeFileSync(join(root, 'node_modules/dep/extra.js'), 'extra\n');
    mkdirSync(join(root, 'node_modules/other'));
    writeFileSync(join(root, 'node_modules/other/index.js'), 'other\n');
    unlinkSync(join(root, 'node_modules/dep/index.js'));
    const captured = await capturePatch(workspace, { maxPatchBytes: 1_048_576 });
    expect(captured.files.map((file) => file.path).sort()).toEqual(['src/app.js', 'src/new.js']);
    const patch = Buffer.from(captured.patch!).toString('utf8');
    expect(patch).not.toContain('node_modules');
    // The setup's rewrite of a tracked file is not the attempt's change either.
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toBe('# app\n# normalised\n');
    expect(patch).not.toContain('README.md');
  });

  test('a folder the attempt replaced whole keeps its own files in the patch, not the setup’s', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const spec: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'echo generated > src/generated.js'] } };
    const { workspace } = await harness.attempt(project('{"lock":1}'), spec);
    const source = join(workspace.workspace, 'src');
    rmSync(source, { recursive: true });
    mkdirSync(source);
    writeFileSync(join(source, 'app.js'), 'rewritten\n');
    writeFileSync(join(source, 'generated.js'), 'the attempt wrote over it\n');
    const captured = await capturePatch(workspace, { maxPatchBytes: 1_048_576 });
    expect(captured.files.map((file) => file.path)).toEqual(['src/app.js']);
  });

  test('a setup that fails fails the attempts needing it with its log, and runs once while remembered', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const failing: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'echo "npm ERR! 404 left-pad"; exit 3'] } };
    const error = await rejection(harness.attempt(project('{"lock":1}'), failing));
    expect(error.code).toBe('CAIRN_ENVIRONMENT_SETUP_FAILED');
    expect(error.message).toContain('exited with 3');
    expect(error.details['log']).toBe('npm ERR! 404 left-pad\n');
    const again = await rejection(harness.attempt(project('{"lock":1}'), failing));
    expect(again.code).toBe('CAIRN_ENVIRONMENT_SETUP_FAILED');
    expect(again.details['log']).toBe('npm ERR! 404 left-pad\n');
    expect(harness.environmentCache.counts).toMatchObject({ misses: 1, failures: 1, hits: 0 });
    // Nothing of the failed attempts stays mounted or in the cache but the failure record.
    expect(readdirSync(harness.environmentCache.directory).filter((name) => !name.startsWith('.failed-'))).toEqual([]);
  });

  test('a failure is tried again once it is no longer remembered', { timeout: 120_000 }, async () => {
    const harness = environmentHarness({ failureMemoryMs: 0 });
    const failing: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'exit 1'] } };
    await rejection(harness.attempt(project('{"lock":1}'), failing));
    await rejection(harness.attempt(project('{"lock":1}'), failing));
    expect(harness.environmentCache.counts).toMatchObject({ misses: 2, failures: 2 });
  });

  test('a setup past its timeout is stopped and fails with CAIRN_ENVIRONMENT_SETUP_TIMED_OUT', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const slow: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'echo starting; sleep 60'] }, timeoutSeconds: 1 };
    const started = Date.now();
    const error = await rejection(harness.attempt(project('{"lock":1}'), slow));
    expect(error.code).toBe('CAIRN_ENVIRONMENT_SETUP_TIMED_OUT');
    expect(error.details['log']).toBe('starting\n');
    // Stopped, not waited out (the sleep was 60 s).
    expect(Date.now() - started).toBeLessThan(45_000);
  });

  test('a setup that fills its disk limit fails with CAIRN_ENVIRONMENT_DISK_EXCEEDED', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const big: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'head -c 64000000 /dev/zero > big.bin; echo "wrote: $?"'] }, diskLimit: '16MiB' };
    const error = await rejection(harness.attempt(project('{"lock":1}'), big));
    expect(error.code).toBe('CAIRN_ENVIRONMENT_DISK_EXCEEDED');
    expect(error.message).toContain('16777216 bytes (environment.diskLimit)');
    expect(String(error.details['log'])).toContain('No space left on device');
  });

  test('two attempts racing for one key run the setup once', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const snapshot = project('{"lock":1}');
    const slowSetup: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'sleep 1; mkdir node_modules && echo once > node_modules/marker'] } };
    const raced = await Promise.all([harness.attempt(snapshot, slowSetup), harness.attempt(snapshot, slowSetup), harness.attempt(snapshot, slowSetup)]);
    expect(raced.map((attempt) => attempt.environment?.built).sort()).toEqual([false, false, true]);
    expect(harness.environmentCache.counts).toMatchObject({ misses: 1, hits: 2 });
    for (const attempt of raced) expect(readFileSync(join(attempt.workspace.workspace, 'node_modules/marker'), 'utf8')).toBe('once\n');
  });

  test('a lock left by a builder that died is taken over', { timeout: 120_000 }, async () => {
    const harness = environmentHarness();
    const snapshot = project('{"lock":1}');
    // A lock naming a folder that is gone: its builder's process died and its folder was swept.
    const probe = await harness.attempt(snapshot, { setup: { argv: ['/bin/true'] } });
    const hex = probe.environment!.digest.slice('sha256:'.length);
    rmSync(join(harness.environmentCache.directory, hex), { recursive: true });
    writeFileSync(join(harness.environmentCache.directory, `.lock-${hex}`), '/nonexistent/attempt-folder');
    const again = await harness.attempt(snapshot, { setup: { argv: ['/bin/true'] } });
    expect(again.environment).toMatchObject({ built: true, digest: probe.environment!.digest });
  });

  test('a lock whose holder outlasts the setup’s timeout is built past', { timeout: 120_000 }, async () => {
    const harness = environmentHarness({ buildMarginMs: 500 });
    const snapshot = project('{"lock":1}');
    const spec: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'echo built > built.txt'] }, timeoutSeconds: 1 };
    const probe = await harness.attempt(snapshot, spec);
    const hex = probe.environment!.digest.slice('sha256:'.length);
    await probe.workspace.remove();
    rmSync(join(harness.environmentCache.directory, hex), { recursive: true });
    // A lock naming a folder that exists (its builder's process died; the folder waits for a sweep).
    writeFileSync(join(harness.environmentCache.directory, `.lock-${hex}`), harness.environmentCache.directory);
    const started = Date.now();
    const again = await harness.attempt(snapshot, spec);
    expect(again.environment).toMatchObject({ built: true, digest: probe.environment!.digest });
    // It waited the setup's timeout and the margin (1.5 s), not for ever.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    expect(readFileSync(join(again.workspace.workspace, 'built.txt'), 'utf8')).toBe('built\n');
  });

  test('layers beyond the cache’s bound are evicted least recently used first, never one an attempt holds', { timeout: 120_000 }, async () => {
    // Each layer takes a few MiB (the setup writes 2 MiB): a bound of 1 byte keeps only the newest and the held.
    const harness = environmentHarness({ maxBytes: 1 });
    const spec = (lock: number): EnvironmentSpec => ({ setup: { argv: ['/bin/sh', '-c', `head -c 2097152 /dev/zero > blob-${lock}`] } });
    const layersIn = () => readdirSync(harness.environmentCache.directory).filter((name) => /^[0-9a-f]{64}$/.test(name));
    const first = await harness.attempt(project('{"lock":1}'), spec(1));
    const firstHex = first.environment!.digest.slice('sha256:'.length);
    // Held by `first` while the second is built: it stays.
    const second = await harness.attempt(project('{"lock":2}'), spec(2));
    expect(layersIn().sort()).toEqual([firstHex, second.environment!.digest.slice('sha256:'.length)].sort());
    await first.workspace.remove();
    await second.workspace.remove();
    // Neither is held now: building a third evicts both older ones.
    const third = await harness.attempt(project('{"lock":3}'), spec(3));
    expect(layersIn()).toEqual([third.environment!.digest.slice('sha256:'.length)]);
    // An evicted key is built again when needed.
    const again = await harness.attempt(project('{"lock":1}'), spec(1));
    expect(again.environment).toMatchObject({ built: true, digest: first.environment!.digest });
  });

  test('an environment asking for the whole internet is refused before anything runs', { timeout: 60_000 }, async () => {
    const harness = environmentHarness();
    const error = await rejection(harness.attempt(project('{"lock":1}'), setup, { network: true }));
    expect(error.code).toBe('CAIRN_EXECUTOR_START_FAILED');
    expect(error.message).toContain('never the whole internet');
    expect(harness.environmentCache.counts).toMatchObject({ misses: 0, hits: 0 });
  });
});
