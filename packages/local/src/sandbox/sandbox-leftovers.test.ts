// Nothing of a sandbox outlives its reaper, whatever ended it. What can: bubblewrap's first child
// (pid 1 inside) once bubblewrap died before that child set its parent-death signal (a stop in the
// sandbox's first milliseconds). The init of a new PID namespace ignores the group's TERM, so it is
// then a process of the sandbox's uid that neither the stop nor its parent's death reaches. Here a
// stand-in of it, started every time by the bubblewrap the reaper runs: a process of the uid in a
// session of its own (out of the reaper's group), ignoring TERM, with no parent to die with.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import { bubblewrapCommand } from './bubblewrap-command.ts';
import { cleanUp, freshUid, processesOf, runLaunch, testLimits, workspaceFor } from './sandbox.test-support.ts';

const directories: string[] = [];
const uidsUsed: number[] = [];
afterEach(() => {
  // What a failed check left behind (a process may end between the listing and the kill).
  for (const pid of processesOf(uidsUsed.splice(0))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  cleanUp(directories);
});

/** A bubblewrap that first starts the stand-in (see above), then is the real one. */
function bubblewrapLeavingAProcess(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-bwrap-'));
  directories.push(folder);
  chmodSync(folder, 0o755);
  const wrapper = join(folder, 'bwrap');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nsetsid /bin/sh -c 'trap "" TERM; exec sleep infinity' </dev/null >/dev/null 2>&1 3<&- 4<&- &\nexec /usr/bin/bwrap "$@"\n`,
    { mode: 0o755 },
  );
  return wrapper;
}

function sleepersOf(uid: number): number[] {
  return processesOf([uid]).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8') === 'sleep\n';
    } catch {
      return false;
    }
  });
}

async function until(condition: () => boolean, limitMs: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < limitMs; await sleep(20)) if (condition()) return true;
  return condition();
}

/** The sandbox command line, run with the stand-in; `withoutLeftovers` drops the reaper's last step. */
function launchOf(argv: string[], withoutLeftovers = false) {
  const uid = freshUid();
  uidsUsed.push(uid);
  const launch = bubblewrapCommand(argv, {
    workspace: workspaceFor(uid, directories),
    uid,
    env: { PATH: '/usr/bin:/bin' },
    network: false,
    limits: testLimits,
    bwrap: bubblewrapLeavingAProcess(),
  });
  if (!withoutLeftovers) return { uid, launch };
  const reaper = launch.args[1]!;
  const trimmed = reaper.replace(/^setpriv .*"kill -KILL -1".*$/m, ':');
  expect(trimmed).not.toBe(reaper);
  return { uid, launch: { ...launch, args: [launch.args[0]!, trimmed, ...launch.args.slice(2)] } };
}

/** Stops the sandbox as the worker does (TERM to its group) once its command and the stand-in sleep. */
async function stopped(argv: string[], withoutLeftovers = false) {
  const { uid, launch } = launchOf(argv, withoutLeftovers);
  let reaper = 0;
  const ended = runLaunch(launch, 15_000, (pid) => (reaper = pid));
  expect(await until(() => sleepersOf(uid).length === 2, 5_000)).toBe(true);
  process.kill(-reaper, 'SIGTERM');
  return { uid, result: await ended };
}

test('a sandbox stopped (SIGTERM to its group) leaves no process of its uid', async () => {
  const { uid, result } = await stopped(['/bin/sh', '-c', 'sleep infinity']);
  expect(result.code).toBe(143);
  expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
});

test('a sandbox whose command exits leaves no process of its uid', async () => {
  const { uid, launch } = launchOf(['/bin/sh', '-c', 'exit 3']);
  expect((await runLaunch(launch)).code).toBe(3);
  expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
});

test('the check can fail: without the reaper killing what is left of the uid, the stand-in lives on', async () => {
  const { uid, result } = await stopped(['/bin/sh', '-c', 'sleep infinity'], true);
  expect(result.code).toBe(143);
  // The sandbox's own sleep dies with its namespace a moment after bubblewrap; the stand-in stays.
  expect(await until(() => sleepersOf(uid).length === 1, 2_000)).toBe(true);
  await sleep(300);
  expect(sleepersOf(uid)).toHaveLength(1);
});
