// A warm environment through the local executor, end to end: signed manifests naming an
// environment, supervisors running the worker, the result records saying which attempt built the
// layer and which reused it, the setup's log stored as the attempt's blob, and patches without the
// environment's files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DispatchManifest, EnvironmentSpec, ExecutionStatus, RuntimeSpec } from '@cairn/core';
import { blobKey, resultKey, resultRecordSchema, sha256Digest } from '@cairn/protocol';
import { writeTar } from '@cairn/protocol/workspace';
import { afterEach, expect, test } from 'vitest';
import { createLocalExecutor, type LocalExecutor } from '../executor/local-executor.ts';
import { executorWorld } from '../executor/local-executor.test-support.ts';

const worlds: ReturnType<typeof executorWorld>[] = [];
afterEach(() => {
  for (const world of worlds.splice(0)) world.cleanUp();
});

function exitOf(executor: LocalExecutor, executionId: string): Promise<ExecutionStatus> {
  return new Promise((resolve) => {
    const stop = executor.onExit((id, status) => {
      if (id !== executionId) return;
      stop();
      resolve(status);
    });
  });
}

test('items needing one environment: the first attempt sets it up, the rest reuse it; results and patches say so', { timeout: 240_000 }, async () => {
  const world = executorWorld();
  worlds.push(world);
  const snapshot = writeTar([
    { kind: 'file', path: 'package-lock.json', executable: false, content: Buffer.from('{"lockfileVersion":3}\n') },
    { kind: 'file', path: 'src/app.js', executable: false, content: Buffer.from('console.log(1);\n') },
  ]);
  const workspace = sha256Digest(snapshot);
  await world.storage.put(blobKey(workspace), snapshot);
  const environment: EnvironmentSpec = {
    setup: { argv: ['/bin/sh', '-c', 'mkdir -p node_modules/dep && echo dep > node_modules/dep/index.js && echo installed'] },
  };
  const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot: world.workRoot });
  // The item reads the environment's file and changes a source file and the environment's.
  const runtime: RuntimeSpec = {
    kind: 'command',
    argv: [
      '/bin/sh',
      '-c',
      'cat node_modules/dep/index.js && echo "// $(cat node_modules/dep/index.js)" >> src/app.js && echo mine >> node_modules/dep/index.js',
    ],
  };
  const overrides: Partial<DispatchManifest> = { workspace, environment };
  const records = [];
  for (const id of ['run/one/1', 'run/two/1', 'run/three/1']) {
    const task = world.task(id, runtime, overrides);
    const exited = exitOf(executor, id);
    await executor.start(task);
    expect(await exited).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    const bytes = await world.storage.get(resultKey(id));
    records.push(resultRecordSchema.parse(JSON.parse(Buffer.from(bytes!).toString('utf8'))));
  }
  expect(records.map((record) => record.environment?.built)).toEqual([true, false, false]);
  expect(new Set(records.map((record) => record.environment?.digest)).size).toBe(1);
  // Each attempt names the setup's log, stored as a blob it can be read back from.
  const logDigest = records[0]!.artifacts.environmentLog!;
  expect(records.map((record) => record.artifacts.environmentLog)).toEqual([logDigest, logDigest, logDigest]);
  expect(Buffer.from((await world.storage.get(blobKey(logDigest)))!).toString('utf8')).toBe('installed\n');
  // A setup without a network has no egress record to name.
  expect(records.map((record) => record.artifacts.environmentEgress)).toEqual([undefined, undefined, undefined]);
  for (const record of records) {
    const stdout = Buffer.from((await world.storage.get(blobKey(record.artifacts.stdout)))!).toString('utf8');
    expect(stdout).toBe('dep\n');
    const patch = Buffer.from((await world.storage.get(blobKey(record.artifacts.patch!)))!).toString('utf8');
    expect(patch).toContain('+// dep');
    expect(patch).not.toContain('node_modules');
    expect(record.patchStats).toEqual({ filesChanged: 1, bytes: expect.any(Number) });
  }
  // One layer on the host, beside the snapshot trees.
  const cache = join(world.workRoot, 'cairn-snapshots', '.environments');
  const hex = records[0]!.environment!.digest.slice('sha256:'.length);
  expect(JSON.parse(readFileSync(join(cache, hex, 'entry.json'), 'utf8'))).toMatchObject({ digest: records[0]!.environment!.digest, logDigest });
});

test('attempts racing in their own supervisors run the setup once', { timeout: 240_000 }, async () => {
  const world = executorWorld();
  worlds.push(world);
  const snapshot = writeTar([{ kind: 'file', path: 'package-lock.json', executable: false, content: Buffer.from('{"race":1}\n') }]);
  const workspace = sha256Digest(snapshot);
  await world.storage.put(blobKey(workspace), snapshot);
  const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot: world.workRoot });
  const environment: EnvironmentSpec = { setup: { argv: ['/bin/sh', '-c', 'sleep 2; mkdir deps && echo ready > deps/marker'] } };
  const ids = ['race/a/1', 'race/b/1', 'race/c/1'];
  const exits = ids.map((id) => exitOf(executor, id));
  // Each execution's supervisor is a process of its own: the lock between them is the cache's file.
  await Promise.all(ids.map((id) => executor.start(world.task(id, { kind: 'command', argv: ['/bin/cat', 'deps/marker'] }, { workspace, environment }))));
  for (const exited of exits) expect(await exited).toMatchObject({ state: 'exited', outcome: 'succeeded' });
  const built = [];
  for (const id of ids) {
    const record = resultRecordSchema.parse(JSON.parse(Buffer.from((await world.storage.get(resultKey(id)))!).toString('utf8')));
    built.push(record.environment?.built);
    expect(Buffer.from((await world.storage.get(blobKey(record.artifacts.stdout)))!).toString('utf8')).toBe('ready\n');
  }
  expect(built.sort()).toEqual([false, false, true]);
});

test('an item whose setup fails fails with the setup’s log in its failure', { timeout: 120_000 }, async () => {
  const world = executorWorld();
  worlds.push(world);
  const snapshot = writeTar([{ kind: 'file', path: 'package-lock.json', executable: false, content: Buffer.from('{}\n') }]);
  const workspace = sha256Digest(snapshot);
  await world.storage.put(blobKey(workspace), snapshot);
  const executor = createLocalExecutor({ storage: world.storage, trustedKeys: [world.key], stateDirectory: world.stateDirectory, workRoot: world.workRoot });
  const task = world.task(
    'run/broken/1',
    { kind: 'command', argv: ['/bin/true'] },
    {
      workspace,
      environment: { setup: { argv: ['/bin/sh', '-c', 'echo "E404 no such package"; exit 1'] } },
    },
  );
  const exited = exitOf(executor, 'run/broken/1');
  await executor.start(task);
  expect(await exited).toMatchObject({ state: 'exited', outcome: 'failed' });
  const record = resultRecordSchema.parse(JSON.parse(Buffer.from((await world.storage.get(resultKey('run/broken/1')))!).toString('utf8')));
  expect(record.failure).toMatchObject({ code: 'CAIRN_ENVIRONMENT_SETUP_FAILED', message: expect.stringContaining('E404 no such package') });
  expect(record.environment).toBeUndefined();
});
