// Local tasks outlive the server that started them (issue 16): each runs in a supervisor process
// of its own session, so a server killed -9 (with its whole process group) takes none with it, and
// another server process on the same state directory re-attaches — inspect, pushed exits, cancel,
// idempotent start. Real processes, real bubblewrap (and the unsandboxed mode), real kills.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionStatus, RuntimeSpec, TaskEnvelope } from '@cairn/core';
import { liveLogSegmentKey } from '@cairn/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import type { ExecutionState } from './execution-state.ts';
import { createLocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';
import { isRunning, liveProcessGroups } from './process-identity.ts';
import { freshUid } from '../sandbox/sandbox.test-support.ts';

type World = ReturnType<typeof executorWorld>;
const hostEntry = fileURLToPath(new URL('../supervisor/executor-host.test-support.ts', import.meta.url));
const worlds: World[] = [];
const killAtEnd: number[] = [];
afterEach(() => {
  for (const pid of killAtEnd.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  for (const world of worlds.splice(0)) world.cleanUp();
});

function world(): World {
  const made = executorWorld();
  worlds.push(made);
  return made;
}

/** Server A: another process that starts `tasks`, then is killed -9 with its whole process group. */
async function startedByKilledServer(made: World, sandbox: 'bubblewrap' | 'none', tasks: readonly TaskEnvelope[]): Promise<void> {
  const input = {
    storageRoot: join(made.directory, 'storage'),
    key: made.key,
    stateDirectory: made.stateDirectory,
    workRoot: made.workRoot,
    sandbox,
    keepWorkDirectory: true,
    tasks,
  };
  // detached: the host leads a process group of its own, which is then killed whole.
  const host = spawn(process.execPath, ['--conditions=@cairn/source', hostEntry, JSON.stringify(input)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  killAtEnd.push(host.pid!);
  let said = '';
  host.stdout.on('data', (chunk: Buffer) => (said += chunk.toString()));
  host.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const exited = new Promise((resolve) => host.once('exit', resolve));
  for (let wait = 0; wait < 600 && !said.includes('started\n'); wait++) await sleep(25);
  expect(said).toContain('started\n');
  process.kill(-host.pid!, 'SIGKILL');
  await exited;
}

function stateOf(made: World, executionId: string): ExecutionState {
  return JSON.parse(readFileSync(join(made.stateDirectory, `${executionId.replaceAll('/', '~')}.json`), 'utf8')) as ExecutionState;
}

/** The attempt folders under the work root (with keepWorkDirectory, every sandbox ever made for the id leaves one). */
function attemptFolders(made: World, executionId: string): string[] {
  const label = `cairn-${executionId.replaceAll(/[^A-Za-z0-9._-]/g, '-')}-1-`.slice(0, 66);
  if (!existsSync(made.workRoot)) return [];
  return readdirSync(made.workRoot).flatMap((owner) =>
    readdirSync(join(made.workRoot, owner))
      .filter((name) => name.startsWith(label))
      .map((name) => join(made.workRoot, owner, name)),
  );
}

/** A task that waits in its sandbox until the test opens its gate (a file the test puts in its workspace), then runs `then`. */
const gated = (then: string, before = 'true'): RuntimeSpec => ({
  kind: 'command',
  argv: ['/bin/sh', '-c', `${before}; while [ ! -e .gate ]; do sleep 0.05; done; rm .gate; ${then}`],
});

/**
 * The workspace of the execution's attempt, once it is ready: its git directory is made after it
 * (the folder itself exists a moment earlier, before its file system is mounted over it).
 */
async function openedWorkspace(made: World, executionId: string): Promise<string> {
  const folder = () => attemptFolders(made, executionId)[0];
  for (let wait = 0; wait < 400 && !(folder() && existsSync(join(folder()!, 'git', 'HEAD'))); wait++) await sleep(25);
  return join(folder()!, 'workspace');
}

async function openGate(made: World, executionId: string): Promise<void> {
  writeFileSync(join(await openedWorkspace(made, executionId), '.gate'), '');
}

const modes = process.getuid?.() === 0 ? (['bubblewrap', 'none'] as const) : (['none'] as const);

describe.each(modes)('sandbox %s', (sandbox) => {
  test(
    'a task started by a server killed -9 (its process group too) keeps running; another server process re-attaches, is told its real exit, and finds its patch stored',
    { timeout: 60_000 },
    async () => {
      const made = world();
      const writes = gated('echo finished > outcome.txt', 'echo waiting-at-the-gate');
      const fails = gated('exit 7');
      const tasks = [made.task('run-1/writes/1', writes), made.task('run-1/fails/1', fails)];
      await startedByKilledServer(made, sandbox, tasks);
      const serverB = createLocalExecutor({
        storage: made.storage,
        trustedKeys: [made.key],
        stateDirectory: made.stateDirectory,
        workRoot: made.workRoot,
        sandbox,
        keepWorkDirectory: true,
      });
      const exits = new Map<string, ExecutionStatus>();
      serverB.onExit((executionId, status) => exits.set(executionId, status));
      // The server is gone; its tasks are not: B sees them running, under supervisors that are alive.
      for (const task of tasks) {
        expect(await serverB.inspect({ executor: 'local', executionId: task.executionId })).toEqual({ state: 'running' });
        expect(isRunning(stateOf(made, task.executionId).owner)).toBe(true);
      }
      // Starting one again (the engine does after a crash) is the same execution, never a second sandbox.
      const ownerBefore = stateOf(made, 'run-1/writes/1').owner;
      expect(await serverB.start(tasks[0]!)).toEqual({ executor: 'local', executionId: 'run-1/writes/1' });
      expect(stateOf(made, 'run-1/writes/1').owner).toEqual(ownerBefore);
      expect(await serverB.inspect({ executor: 'local', executionId: 'run-1/writes/1' })).toEqual({ state: 'running' });
      // Its live log goes on being written (to the storage every server reads) with no server up.
      let liveLog = '';
      for (let wait = 0; wait < 400 && !liveLog.includes('waiting-at-the-gate'); wait++) {
        const segment = await made.storage.get(liveLogSegmentKey('run-1/writes/1', 'stdout', 0));
        liveLog = segment ? new TextDecoder().decode(segment) : '';
        if (!liveLog.includes('waiting-at-the-gate')) await sleep(25);
      }
      expect(liveLog).toContain('waiting-at-the-gate');
      // Their exits are pushed to B (which started neither) without any further inspect.
      for (const task of tasks) await openGate(made, task.executionId);
      for (let wait = 0; wait < 800 && exits.size < 2; wait++) await sleep(25);
      expect(exits.get('run-1/writes/1')).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
      expect(exits.get('run-1/fails/1')).toMatchObject({ state: 'exited', outcome: 'failed', exitCode: 7 });
      const record = JSON.parse(new TextDecoder().decode((await made.storage.get('results/run-1/writes/1.json'))!)) as { artifacts: Record<string, string> };
      const patch = new TextDecoder().decode((await made.storage.get(`blobs/${record.artifacts['patch']!.slice('sha256:'.length)}`))!);
      expect(patch).toContain('+finished');
      // A start after the exit answers the same handle and runs nothing: one attempt folder each, ever.
      expect(await serverB.start(tasks[0]!)).toEqual({ executor: 'local', executionId: 'run-1/writes/1' });
      await sleep(300);
      expect(attemptFolders(made, 'run-1/writes/1')).toHaveLength(1);
      expect(attemptFolders(made, 'run-1/fails/1')).toHaveLength(1);
      expect(await serverB.inspect({ executor: 'local', executionId: 'run-1/writes/1' })).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
    },
  );

  test(
    'a re-attached task is cancelled through the server that re-attached: its supervisor stops the sandbox and records it cancelled',
    { timeout: 60_000 },
    async () => {
      const made = world();
      const task = made.task('run-1/sleeps/1', { kind: 'command', argv: ['/bin/sleep', '600'] });
      await startedByKilledServer(made, sandbox, [task]);
      const serverB = createLocalExecutor({
        storage: made.storage,
        trustedKeys: [made.key],
        stateDirectory: made.stateDirectory,
        workRoot: made.workRoot,
        sandbox,
      });
      const exits: ExecutionStatus[] = [];
      serverB.onExit((_executionId, status) => exits.push(status));
      const handle = { executor: 'local', executionId: task.executionId };
      expect(await serverB.inspect(handle)).toEqual({ state: 'running' });
      const supervisor = stateOf(made, task.executionId).owner;
      await serverB.cancel(handle);
      for (let wait = 0; wait < 400 && exits.length === 0; wait++) await sleep(25);
      expect(exits).toEqual([expect.objectContaining({ state: 'exited', outcome: 'cancelled' })]);
      expect(await serverB.inspect(handle)).toMatchObject({ state: 'exited', outcome: 'cancelled' });
      for (let wait = 0; wait < 200 && isRunning(supervisor); wait++) await sleep(25);
      expect(isRunning(supervisor)).toBe(false);
    },
  );

  test(
    'a supervisor killed -9 is reported unknown (its sandbox died with it), pushed once as unknown with the reason and its log',
    { timeout: 30_000 },
    async () => {
      const made = world();
      const executor = createLocalExecutor({
        storage: made.storage,
        trustedKeys: [made.key],
        stateDirectory: made.stateDirectory,
        workRoot: made.workRoot,
        sandbox,
      });
      const exits: ExecutionStatus[] = [];
      executor.onExit((_executionId, status) => exits.push(status));
      // The task would write its file after a second: a sandbox that outlived its supervisor would.
      const handle = await executor.start(
        made.task('run-1/orphan/1', { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1; echo late > late.txt; sleep 600'] }),
      );
      expect(await executor.inspect(handle)).toEqual({ state: 'running' });
      const supervisor = stateOf(made, 'run-1/orphan/1').owner;
      process.kill(supervisor.pid, 'SIGKILL');
      for (let wait = 0; wait < 200 && isRunning(supervisor); wait++) await sleep(25);
      // An inspection says why, as the push does.
      const unknown = {
        state: 'unknown',
        reason: expect.stringMatching(
          new RegExp(`^its supervisor \\(pid ${supervisor.pid}\\) ended without recording an outcome; its log: ${made.stateDirectory}/.+\\.log$`),
        ),
      };
      expect(await executor.inspect(handle)).toEqual(unknown);
      await sleep(2_500);
      expect(exits).toEqual([unknown]);
      expect(await executor.inspect(handle)).toEqual(unknown);
      // Nothing of the attempt runs on: no process of the sandbox's command is left.
      const left = readdirSync('/proc')
        .filter((name) => /^\d+$/.test(name))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('echo late > late.txt');
          } catch {
            return false;
          }
        });
      expect(left).toEqual([]);
    },
  );
});

test("a task's secrets and manifest reach its supervisor on its stdin: never on its command line or in its environment", { timeout: 30_000 }, async () => {
  const made = world();
  const executor = createLocalExecutor({
    storage: made.storage,
    trustedKeys: [made.key],
    stateDirectory: made.stateDirectory,
    workRoot: made.workRoot,
    sandbox: modes[0],
  });
  const secret = 'sekret-4f9c2a-value';
  const task = made.task('run-1/secret/1', { kind: 'command', argv: ['/bin/sh', '-c', `test "$TOKEN" = ${secret} && sleep 2`] }, { secretNames: ['TOKEN'] });
  const handle = await executor.start({ ...task, secrets: { TOKEN: secret } });
  const supervisor = stateOf(made, task.executionId).owner;
  const commandLine = readFileSync(`/proc/${supervisor.pid}/cmdline`, 'utf8');
  const environment = readFileSync(`/proc/${supervisor.pid}/environ`, 'utf8');
  expect(commandLine).not.toContain(secret);
  expect(commandLine).not.toContain(task.manifestDigest);
  expect(environment).not.toContain(secret);
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  // The runtime got it (its check passed).
  expect(status).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
});

test(
  'storage a supervisor cannot reopen (not a directory, no taskStorage) runs tasks in the server process, and says so at start',
  { timeout: 30_000 },
  async () => {
    const made = world();
    // Another provider's storage (any but a local directory), over the same objects here.
    const other = new Proxy(made.storage, {
      get: (target, property) => {
        if (property === 'provider') return 'elsewhere';
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as (...values: unknown[]) => unknown).bind(target) : value;
      },
    });
    const warnings: Record<string, unknown>[] = [];
    const logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (fields: Record<string, unknown>) => warnings.push(fields) };
    const executor = createLocalExecutor({
      storage: other,
      trustedKeys: [made.key],
      stateDirectory: made.stateDirectory,
      workRoot: made.workRoot,
      sandbox: modes[0],
      logger,
    });
    expect(warnings).toContainEqual({ reason: 'local.executor.taskStorage' });
    const handle = await executor.start(made.task('run-1/here/1', { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1'] }));
    expect(stateOf(made, 'run-1/here/1').owner.pid).toBe(process.pid);
    let status = await executor.inspect(handle);
    for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
      await sleep(25);
      status = await executor.inspect(handle);
    }
    expect(status).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  },
);

test('a supervisor whose state file is removed (its data directory gone) stops its task and exits', { timeout: 30_000 }, async () => {
  const made = world();
  const executor = createLocalExecutor({
    storage: made.storage,
    trustedKeys: [made.key],
    stateDirectory: made.stateDirectory,
    workRoot: made.workRoot,
    sandbox: modes[0],
  });
  await executor.start(made.task('run-1/orphaned/1', { kind: 'command', argv: ['/bin/sleep', '600'] }));
  const supervisor = stateOf(made, 'run-1/orphaned/1').owner;
  await sleep(500);
  rmSync(join(made.stateDirectory, 'run-1~orphaned~1.json'));
  for (let wait = 0; wait < 400 && isRunning(supervisor); wait++) await sleep(25);
  expect(isRunning(supervisor)).toBe(false);
});

test('a cancel that comes while the supervisor is still starting is delivered once it has started: the task ends cancelled', { timeout: 30_000 }, async () => {
  const made = world();
  const executor = createLocalExecutor({
    storage: made.storage,
    trustedKeys: [made.key],
    stateDirectory: made.stateDirectory,
    workRoot: made.workRoot,
    sandbox: modes[0],
  });
  const exits: ExecutionStatus[] = [];
  executor.onExit((_executionId, status) => exits.push(status));
  const task = made.task('run-1/early-cancel/1', { kind: 'command', argv: ['/bin/sleep', '600'] });
  const starting = executor.start(task);
  // The state file names this server (the claim) until the supervisor takes it over.
  await executor.cancel({ executor: 'local', executionId: task.executionId });
  await starting;
  for (let wait = 0; wait < 400 && exits.length === 0; wait++) await sleep(25);
  expect(exits).toEqual([expect.objectContaining({ state: 'exited', outcome: 'cancelled' })]);
});

test('two servers starting one execution at the same moment start one supervisor: both get the handle, one sandbox runs', { timeout: 30_000 }, async () => {
  const made = world();
  const settings = {
    storage: made.storage,
    trustedKeys: [made.key],
    stateDirectory: made.stateDirectory,
    workRoot: made.workRoot,
    sandbox: modes[0],
    keepWorkDirectory: true,
  };
  const [one, other] = [createLocalExecutor(settings), createLocalExecutor(settings)];
  const task = made.task('run-1/contended/1', { kind: 'command', argv: ['/bin/sh', '-c', 'sleep 1'] });
  const handles = await Promise.all([one.start(task), other.start(task), one.start(task), other.start(task)]);
  expect(new Set(handles.map((handle) => JSON.stringify(handle))).size).toBe(1);
  let status = await other.inspect(handles[0]!);
  for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await other.inspect(handles[0]!);
  }
  expect(status).toEqual({ state: 'exited', outcome: 'succeeded', exitCode: 0 });
  expect(attemptFolders(made, 'run-1/contended/1')).toHaveLength(1);
});

test(
  "a later server's sweep removes the folder of a supervisor killed -9, and keeps an attempt kept on purpose (keepWorkDirectory)",
  { timeout: 30_000 },
  async () => {
    const made = world();
    const settings = { storage: made.storage, trustedKeys: [made.key], stateDirectory: made.stateDirectory, workRoot: made.workRoot, sandbox: modes[0] };
    const keeping = createLocalExecutor({ ...settings, keepWorkDirectory: true });
    const kept = await keeping.start(made.task('run-1/kept/1', { kind: 'command', argv: ['/bin/true'] }));
    let status = await keeping.inspect(kept);
    for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
      await sleep(25);
      status = await keeping.inspect(kept);
    }
    expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded' });
    await keeping.start(made.task('run-1/killed/1', { kind: 'command', argv: ['/bin/sleep', '600'] }));
    await openedWorkspace(made, 'run-1/killed/1');
    const killed = stateOf(made, 'run-1/killed/1').owner;
    process.kill(killed.pid, 'SIGKILL');
    // The git it may have been running (in its process group) ends too, after it.
    for (let wait = 0; wait < 200 && (isRunning(killed) || liveProcessGroups().has(killed.pid)); wait++) await sleep(25);
    expect(attemptFolders(made, 'run-1/killed/1')).toHaveLength(1);
    createLocalExecutor(settings);
    expect(attemptFolders(made, 'run-1/killed/1')).toEqual([]);
    expect(attemptFolders(made, 'run-1/kept/1')).toHaveLength(1);
  },
);

test.runIf(process.getuid?.() === 0)(
  'sandboxes running at once under their own supervisors each get a uid of their own, handed out in turn',
  { timeout: 30_000 },
  async () => {
    const made = world();
    const first = freshUid();
    for (let skip = 0; skip < 5; skip++) freshUid();
    const executor = createLocalExecutor({
      storage: made.storage,
      trustedKeys: [made.key],
      stateDirectory: made.stateDirectory,
      workRoot: made.workRoot,
      uids: { first, count: 6 },
    });
    // Six at once over six uids (uids picked at random per process would collide 98 times in 100).
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => `run-1/uid-${name}/1`);
    // Each holds its sandbox open until all have started.
    const handles = await Promise.all(ids.map((executionId) => executor.start(made.task(executionId, gated('id -u > uid.txt')))));
    for (const executionId of ids) await openGate(made, executionId);
    const uids: string[] = [];
    for (const handle of handles) {
      let status = await executor.inspect(handle);
      for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
        await sleep(25);
        status = await executor.inspect(handle);
      }
      expect(status).toMatchObject({ state: 'exited', outcome: 'succeeded' });
      const record = JSON.parse(new TextDecoder().decode((await made.storage.get(`results/${handle.executionId}.json`))!)) as {
        artifacts: Record<string, string>;
      };
      const patch = new TextDecoder().decode((await made.storage.get(`blobs/${record.artifacts['patch']!.slice('sha256:'.length)}`))!);
      uids.push(/^\+(\d+)$/m.exec(patch)![1]!);
    }
    expect(new Set(uids).size).toBe(6);
    expect(uids.every((uid) => Number(uid) >= first && Number(uid) < first + 6)).toBe(true);
  },
);
