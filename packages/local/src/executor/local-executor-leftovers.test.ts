// What ended attempts leave behind: work directories, per-sandbox memory cgroups and mounts,
// counted from disk after every way an attempt ends, and leftovers of a killed server swept at start.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionHandle, ExecutionStatus, RuntimeSpec } from '@cairn/core';
import { afterEach, expect, test, vi } from 'vitest';
import { sandboxLauncher } from '../sandbox/sandbox-launcher.ts';
import { cleanUp, freshUid, testLimits, workspaceFor } from '../sandbox/sandbox.test-support.ts';
import { createLocalExecutor, type LocalExecutor } from './local-executor.ts';
import { executorWorld } from './local-executor.test-support.ts';
import { liveProcessGroups } from './process-identity.ts';

const cgroupRoot = '/sys/fs/cgroup/memory';
const directories: string[] = [];
afterEach(() => cleanUp(directories));

/** Every folder under `root`, at any depth, whose name marks an attempt's working folder. */
function attemptFolders(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^cairn-(?!owner-).*-\d+-[A-Za-z0-9]{6}$/.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

async function exited(executor: LocalExecutor, handle: ExecutionHandle): Promise<ExecutionStatus> {
  let status = await executor.inspect(handle);
  for (let wait = 0; wait < 400 && status.state !== 'exited'; wait++) {
    await sleep(25);
    status = await executor.inspect(handle);
  }
  return status;
}

test('an attempt leaves no work directory, no memory cgroup and no mount, however it ends', { timeout: 60_000 }, async () => {
  const world = executorWorld();
  try {
    const first = freshUid();
    // Six uids, one per sandbox, so each sandbox's cgroup can be looked for by name.
    for (let skip = 0; skip < 5; skip++) freshUid();
    const executor = createLocalExecutor({
      storage: world.storage,
      trustedKeys: [world.key],
      stateDirectory: world.stateDirectory,
      workRoot: world.workRoot,
      uids: { first, count: 6 },
    });
    const ends: [string, RuntimeSpec, Record<string, unknown>][] = [
      ['succeeds', { kind: 'command', argv: ['/bin/true'] }, {}],
      ['fails', { kind: 'command', argv: ['/bin/sh', '-c', 'exit 3'] }, {}],
      [
        'times-out',
        { kind: 'command', argv: ['/bin/sleep', '600'] },
        { limits: { timeoutMs: 300, network: false, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 } },
      ],
      ['cannot-start', { kind: 'command', argv: ['/nonexistent/program'] }, {}],
      [
        'networked',
        { kind: 'command', argv: ['/bin/true'] },
        { limits: { timeoutMs: 60_000, network: true, maxPatchBytes: 10_000_000, maxLogBytes: 1_000_000 } },
      ],
    ];
    for (const [name, runtime, overrides] of ends) {
      const handle = await executor.start(world.task(`run-leftovers/${name}/1`, runtime, overrides));
      expect((await exited(executor, handle)).state, name).toBe('exited');
    }
    const cancelled = await executor.start(world.task('run-leftovers/cancelled/1', { kind: 'command', argv: ['/bin/sleep', '600'] }));
    await sleep(500);
    await executor.cancel(cancelled);
    expect((await exited(executor, cancelled)).state).toBe('exited');
    // Removed on the way out of the last attempt, which may end a little after its exit is recorded
    // (a while, on a loaded machine).
    await vi.waitFor(() => expect(attemptFolders(world.workRoot)).toEqual([]), { timeout: 10_000, interval: 25 });
    const cgroups = () =>
      Array.from({ length: 6 }, (_, index) => join(cgroupRoot, 'cairn', String(first + index))).filter((directory) => existsSync(directory));
    await vi.waitFor(() => expect(cgroups()).toEqual([]), { timeout: 10_000, interval: 25 });
    // Nor its workspace's or its /tmp's file system (AttemptVolumes): unmounted, the loop device with it.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((line) => line.split(' ')[4]?.startsWith(`${world.workRoot}/`));
    expect(mounts).toEqual([]);
  } finally {
    world.cleanUp();
  }
});

test('at start, the executor sweeps the work directories and cgroups of a dead server, and keeps those of a live one', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  try {
    // A server that died (a process that has exited) left an attempt folder and an idle cgroup.
    const dead = spawn('/bin/true');
    await new Promise((resolve) => dead.on('close', resolve));
    const stat = (await import('node:fs')).readFileSync(`/proc/self/stat`, 'utf8');
    const bootId = (await import('node:fs')).readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const deadFolder = join(world.workRoot, `cairn-owner-${dead.pid}-1-${bootId}`, 'cairn-build-1-AbC123');
    mkdirSync(join(deadFolder, 'workspace'), { recursive: true });
    writeFileSync(join(deadFolder, 'workspace', 'left.txt'), 'left behind');
    // A live server (this process) has one it may re-attach to: kept.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const liveFolder = join(world.workRoot, `cairn-owner-${process.pid}-${ticks}-${bootId}`, 'cairn-build-1-DeF456');
    mkdirSync(join(liveFolder, 'workspace'), { recursive: true });
    const uid = freshUid();
    const idle = join(cgroupRoot, 'cairn', String(uid));
    mkdirSync(idle, { recursive: true });
    // Made a while ago (a cgroup made a moment ago may belong to a sandbox starting now).
    const old = new Date(Date.now() - 10 * 60_000);
    try {
      utimesSync(idle, old, old);
    } catch {
      // cgroupfs may not take times; the sweep then judges by what it can read.
    }
    const busyUid = freshUid();
    const busy = join(cgroupRoot, 'cairn', String(busyUid));
    mkdirSync(busy, { recursive: true });
    const sleeper = spawn('/bin/sleep', ['30']);
    writeFileSync(join(busy, 'cgroup.procs'), String(sleeper.pid));
    try {
      createLocalExecutor({
        storage: world.storage,
        trustedKeys: [world.key],
        stateDirectory: world.stateDirectory,
        workRoot: world.workRoot,
        uids: { first: uid, count: 2 },
      });
      expect(existsSync(deadFolder)).toBe(false);
      expect(existsSync(liveFolder)).toBe(true);
      expect(existsSync(idle), `idle cgroup (mtime ${statSync(idle, { throwIfNoEntry: false })?.mtime.toISOString()})`).toBe(false);
      expect(existsSync(busy)).toBe(true);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.on('close', resolve));
      for (let wait = 0; wait < 20 && existsSync(busy); wait++) {
        try {
          rmdirSync(busy);
        } catch {
          await sleep(50);
        }
      }
      if (existsSync(idle)) rmdirSync(idle);
    }
  } finally {
    world.cleanUp();
  }
});

test('the sweep keeps the folder of a dead supervisor while a process it started (in its process group) still runs', { timeout: 30_000 }, async () => {
  const world = executorWorld();
  try {
    // A supervisor (a group leader) that died, leaving a child in its group: as git, still
    // writing in the attempt folder, outlives a supervisor killed -9.
    const leader = spawn('/bin/sh', ['-c', 'sleep 30 >/dev/null & echo $!'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    let printed = '';
    leader.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    await new Promise((resolve) => leader.on('close', resolve));
    const leftover = Number(printed.trim());
    expect(liveProcessGroups().has(leader.pid!)).toBe(true);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const folder = join(world.workRoot, `cairn-owner-${leader.pid}-1-${bootId}`, 'cairn-build-1-GhI789');
    mkdirSync(join(folder, 'workspace'), { recursive: true });
    const sweep = () =>
      createLocalExecutor({
        storage: world.storage,
        trustedKeys: [world.key],
        stateDirectory: world.stateDirectory,
        workRoot: world.workRoot,
        sandbox: 'none',
      });
    try {
      sweep();
      expect(existsSync(folder)).toBe(true);
    } finally {
      process.kill(leftover, 'SIGKILL');
    }
    for (let wait = 0; wait < 200 && liveProcessGroups().has(leader.pid!); wait++) await sleep(25);
    sweep();
    expect(existsSync(folder)).toBe(false);
  } finally {
    world.cleanUp();
  }
});

test('a sandbox launched on its own removes its cgroup when it ends', { timeout: 30_000 }, async () => {
  const uid = freshUid();
  const workspace = workspaceFor(uid, directories);
  const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 }, memoryBytes: 256 * 1024 * 1024 });
  const { command, args } = launch(['/bin/true'], { workspace, env: { PATH: '/usr/bin:/bin' }, network: false });
  expect(existsSync(join(cgroupRoot, 'cairn', String(uid)))).toBe(true);
  const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true });
  expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0);
  expect(existsSync(join(cgroupRoot, 'cairn', String(uid)))).toBe(false);
});
