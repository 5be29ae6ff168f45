import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RuntimeSpec } from '@cairn/core';
import { describeExecutor, type ExecutorTaskBehaviour } from '@cairn/conformance';
import { expect, test } from 'vitest';
import { createLocalExecutor, LocalExecutor, type LocalExecutorSettings } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';
import { createResultlessStorage } from './resultless-storage.test-support.ts';

const worlds = new Map<LocalExecutor, ReturnType<typeof executorWorld>>();

const runtimeOf = (behaviour: ExecutorTaskBehaviour): RuntimeSpec => ({
  kind: 'command',
  argv: behaviour.kind === 'succeed' ? ['/bin/true'] : behaviour.kind === 'fail' ? ['/bin/sh', '-c', `exit ${behaviour.exitCode}`] : ['/bin/sleep', '600'],
});

const settingsOf = (world: ReturnType<typeof executorWorld>): LocalExecutorSettings => ({
  storage: world.storage,
  trustedKeys: [world.key],
  stateDirectory: world.stateDirectory,
  workRoot: world.workRoot,
  keepWorkDirectory: true,
});

describeExecutor({
  name: 'local (bubblewrap)',
  create: () => {
    const world = executorWorld();
    const executor = createLocalExecutor(settingsOf(world));
    worlds.set(executor, world);
    return executor;
  },
  task: (behaviour, executionId) => {
    // Each instance of a test shares one world; the suite builds tasks for the current one.
    const world = [...worlds.values()].at(-1)!;
    return world.task(executionId, runtimeOf(behaviour));
  },
  restart: (executor) => {
    const world = worlds.get(executor)!;
    const restarted = createLocalExecutor(settingsOf(world));
    worlds.set(restarted, world);
    return restarted;
  },
  // Every run of a task body gets a working folder of its own, kept here: count them from disk.
  oracle: (executor) => ({
    runCount: (executionId) => {
      const label = `cairn-${executionId.replaceAll(/[^A-Za-z0-9._-]/g, '-')}-1-`.slice(0, 66);
      // Attempt folders are in the executor process's own folder under the work root.
      const workRoot = worlds.get(executor)!.workRoot;
      return readdirSync(workRoot)
        .flatMap((owner) => readdirSync(join(workRoot, owner)))
        .filter((name) => name.startsWith(label)).length;
    },
  }),
  cleanup: (executor) => {
    const world = worlds.get(executor);
    worlds.delete(executor);
    if (world && ![...worlds.values()].includes(world)) world.cleanUp();
  },
  timeoutMs: 20_000,
});

test('bad settings name every option; a missing bubblewrap names the install command', () => {
  const world = executorWorld();
  try {
    expect(() => createLocalExecutor({ ...settingsOf(world), stateDirectory: '', sandbox: 'docker' as never, trustedKeys: [] })).toThrow(
      expect.objectContaining({
        code: 'CAIRN_CONFIG_INVALID',
        issues: expect.arrayContaining([
          expect.objectContaining({ path: 'local.executor.stateDirectory' }),
          expect.objectContaining({ path: 'local.executor.sandbox' }),
          expect.objectContaining({ path: 'local.executor.trustedKeys' }),
        ]),
      }),
    );
    expect(() => createLocalExecutor({ ...settingsOf(world), bwrap: '/nonexistent/bwrap' })).toThrow(/apt-get install -y bubblewrap/);
  } finally {
    world.cleanUp();
  }
});

test('an agent item naming claude-code, where the CLI is not installed, fails with how to install it', { timeout: 20_000 }, async () => {
  const world = executorWorld();
  try {
    const executor = createLocalExecutor(settingsOf(world));
    const handle = await executor.start(world.task('run-1/review/1', { kind: 'agent', adapter: 'claude-code', prompt: 'Tidy the README' }));
    let status = await executor.inspect(handle);
    for (let wait = 0; wait < 200 && status.state !== 'exited'; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = await executor.inspect(handle);
    }
    expect(status).toMatchObject({ state: 'exited', outcome: 'failed' });
    const record = JSON.parse(new TextDecoder().decode((await world.storage.get('results/run-1/review/1.json'))!)) as {
      failure?: { code: string; message: string };
    };
    expect(record.failure?.code).toBe('CAIRN_RUNTIME_FAILED');
    expect(record.failure?.message).toContain('npm install -g @anthropic-ai/claude-code');
  } finally {
    world.cleanUp();
  }
});

test('a claude CLI configured outside /usr is bound read-only into claude-code sandboxes, and into no other', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  const folder = mkdtempSync(join(tmpdir(), 'cairn-claude-cli-'));
  try {
    chmodSync(folder, 0o755);
    const claude = join(folder, 'claude');
    // The stand-in proves it runs where it was installed, and that it cannot change its own folder.
    writeFileSync(
      claude,
      `#!/bin/sh\nif touch ${folder}/written 2>/dev/null; then echo writable; else echo read-only; fi > cli-folder.txt\necho '{"type":"result","subtype":"success"}'\n`,
      { mode: 0o755 },
    );
    const executor = createLocalExecutor({ ...settingsOf(world), claudeCode: { binary: claude } });
    const finished = async (executionId: string, runtime: RuntimeSpec) => {
      const handle = await executor.start(world.task(executionId, runtime));
      let status = await executor.inspect(handle);
      for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        status = await executor.inspect(handle);
      }
      return status;
    };
    expect(await finished('run-1/claude/1', { kind: 'agent', adapter: 'claude-code', prompt: 'hello' })).toMatchObject({
      state: 'exited',
      outcome: 'succeeded',
    });
    const record = JSON.parse(new TextDecoder().decode((await world.storage.get('results/run-1/claude/1.json'))!)) as { artifacts: Record<string, string> };
    const patch = new TextDecoder().decode((await world.storage.get(`blobs/${record.artifacts['patch']!.slice('sha256:'.length)}`))!);
    expect(patch).toContain('+read-only');
    expect(existsSync(join(folder, 'written'))).toBe(false);
    // A command item's sandbox does not see the folder at all.
    expect(await finished('run-1/command/1', { kind: 'command', argv: ['/bin/sh', '-c', `test ! -e ${folder}`] })).toMatchObject({
      state: 'exited',
      outcome: 'succeeded',
    });
  } finally {
    rmSync(folder, { recursive: true, force: true });
    world.cleanUp();
  }
});

test('a worker that cannot write its result record (storage down) exits failed with the reason, naming the storage error', { timeout: 20_000 }, async () => {
  const world = executorWorld();
  try {
    // The storage takes everything but the result record: the worker runs, then cannot report.
    // The supervisor opens it as taskStorage names it (a module's factory and plain settings).
    const root = join(world.directory, 'storage');
    const storage = createResultlessStorage({ root });
    const taskStorage = {
      kind: 'module' as const,
      module: fileURLToPath(new URL('./resultless-storage.test-support.ts', import.meta.url)),
      export: 'createResultlessStorage',
      settings: { root },
    };
    const executor = createLocalExecutor({ ...settingsOf(world), storage, taskStorage });
    const handle = await executor.start(world.task('run-1/build/1', { kind: 'command', argv: ['/bin/true'] }));
    let status = await executor.inspect(handle);
    for (let wait = 0; wait < 200 && status.state !== 'exited'; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = await executor.inspect(handle);
    }
    expect(status).toMatchObject({
      state: 'exited',
      outcome: 'failed',
      reason: 'the worker wrote no result record: CAIRN_STORAGE_UNAVAILABLE: the storage answered 503 for results/',
    });
  } finally {
    world.cleanUp();
  }
});
