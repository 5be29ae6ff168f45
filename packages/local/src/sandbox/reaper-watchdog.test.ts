// The reaper's watchdog is stopped the moment the sandbox ends, which on a loaded machine can be
// before the forked watchdog has even run. Stopped so, it must still stop: the reaper waits for it
// (before it removes the sandbox's cgroup), and a watchdog that lives on holds the attempt running
// for good. These run the reaper's own lines under /bin/sh, made to stop the watchdog before it
// has run at all: the shell runs as a real-time task on one CPU and its children do not (reset on
// fork), so a child runs only once the shell blocks, in its `wait`. That is the loaded machine's
// worst case, every time, where on an idle one the child usually wins the race.
import { spawn } from 'node:child_process';
import { expect, test } from 'vitest';
import { reaperWatchdog } from './bubblewrap-command.ts';

/**
 * Runs `script` under /bin/sh, real-time on CPU 0 with its children not (needs root, as the
 * sandbox does), with fd 3 a pipe held open (the host's end); its exit code, or 'hung' after `limitMs`.
 */
async function runHoldingFd3(script: string, limitMs: number): Promise<number | 'hung'> {
  const argv = ['taskset', '--cpu-list', '0', 'chrt', '--reset-on-fork', '--fifo', '1', '/bin/sh', '-c', script];
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  try {
    return await new Promise<number | 'hung'>((resolve) => {
      const timer = setTimeout(() => resolve('hung'), limitMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
  } finally {
    // Whatever is left of its group (a watchdog that outlived it) goes too.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Nothing left.
    }
    child.stdio[3]?.destroy();
  }
}

const stoppedAtOnce = `${reaperWatchdog.trap}\n${reaperWatchdog.start}\n${reaperWatchdog.stop}\nwait $watchdog\nexit 0`;

test('a watchdog stopped the moment it was forked stops, and the reaper waiting for it goes on', async () => {
  // With a TERM every one of these hung: the new subshell still had the reaper's TERM trap.
  for (let round = 0; round < 10; round++) expect(await runHoldingFd3(stoppedAtOnce, 2_000)).toBe(0);
});

test('the check can fail: the same lines stopping the watchdog with TERM hang', async () => {
  const withTerm = stoppedAtOnce.replace(reaperWatchdog.stop, 'kill $watchdog 2>/dev/null');
  expect(withTerm).not.toBe(stoppedAtOnce);
  expect(await runHoldingFd3(withTerm, 1_000)).toBe('hung');
});
