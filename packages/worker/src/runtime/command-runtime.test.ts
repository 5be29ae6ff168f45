import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeInvocation, RuntimeSpec } from '@cairn/core';
import { describeRuntimeAdapter, type RuntimeAdapterScenario } from '@cairn/conformance';
import { isCairnError } from '@cairn/protocol';
import { describe, expect, test, vi } from 'vitest';
import { isAlive, temporaryDirectory } from '../testing/worker.test-support.ts';
import { createCommandRuntime, type CommandLaunchContext } from './command-runtime.ts';

/** The argv that acts out a conformance scenario with /bin/sh. */
function scenarioSpec(scenario: RuntimeAdapterScenario): RuntimeSpec {
  const sh = (script: string, ...args: string[]): RuntimeSpec => ({ kind: 'command', argv: ['/bin/sh', '-c', script, 'sh', ...args] });
  switch (scenario.kind) {
    case 'write-file':
      return sh('mkdir -p "$(dirname "$1")" && printf %s "$2" > "$1"', scenario.path, scenario.content);
    case 'exit':
      return sh(`exit ${scenario.exitCode}`);
    case 'print':
      return sh('printf %s "$1"; printf %s "$2" >&2', scenario.stdout, scenario.stderr);
    case 'print-working-directory':
      return sh('pwd');
    case 'run-until-aborted':
      return sh('while :; do sleep 1; done');
  }
}

describeRuntimeAdapter({ name: 'command (spawned directly)', create: () => createCommandRuntime(), scenario: scenarioSpec });
describeRuntimeAdapter({
  name: 'command (through a launch hook)',
  create: () => createCommandRuntime({ launch: (argv) => ({ command: '/usr/bin/env', args: ['--', ...argv] }) }),
  scenario: scenarioSpec,
});

/** Runs a spec in a fresh workspace and collects its output. */
async function runCommand(
  argv: string[],
  options: {
    env?: Record<string, string>;
    signal?: AbortSignal;
    launch?: Parameters<typeof createCommandRuntime>[0];
    network?: boolean;
    workspace?: string;
  } = {},
) {
  const workspace = options.workspace ?? temporaryDirectory();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const invocation: RuntimeInvocation & { network?: boolean } = {
    workspace,
    spec: { kind: 'command', argv },
    env: options.env ?? { PATH: '/usr/bin:/bin' },
    signal: options.signal ?? new AbortController().signal,
    sinks: { stdout: (chunk) => void stdout.push(Buffer.from(chunk)), stderr: (chunk) => void stderr.push(Buffer.from(chunk)) },
    ...(options.network === undefined ? {} : { network: options.network }),
  };
  const result = await createCommandRuntime(options.launch ?? {}).run(invocation);
  return { result, workspace, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
}

describe('CommandRuntime', () => {
  test('a program that does not exist rejects with CAIRN_RUNTIME_FAILED naming it', async () => {
    const error = await runCommand(['cairn-no-such-program', 'x']).catch((caught: unknown) => caught);
    expect(isCairnError(error, 'CAIRN_RUNTIME_FAILED')).toBe(true);
    expect((error as Error).message).toContain('Could not start "cairn-no-such-program": it was not found');
  });

  test('an empty argv rejects with CAIRN_RUNTIME_FAILED', async () => {
    expect(isCairnError(await runCommand([]).catch((caught: unknown) => caught), 'CAIRN_RUNTIME_FAILED')).toBe(true);
  });

  test('the environment is exactly what it is given', async () => {
    const { stdout } = await runCommand(['/usr/bin/env'], { env: { ONLY: 'this', PATH: '/bin' } });
    expect(stdout.trim().split('\n').sort()).toEqual(['ONLY=this', 'PATH=/bin']);
  });

  test('abort kills the whole process group: a background child and a grandchild that ignore SIGTERM are gone too', async () => {
    const controller = new AbortController();
    const started = temporaryDirectory();
    const pending = runCommand(['/bin/sh', '-c', 'trap "" TERM; (trap "" TERM; sleep 60 & echo $! > grandchild; wait) & echo $! > child; wait'], {
      signal: controller.signal,
      launch: { killGraceMs: 300 },
      workspace: started,
    });
    // Aborted once both have written their pid (their traps are set by then), however long that takes.
    const written = (file: string) => existsSync(join(started, file)) && readFileSync(join(started, file), 'utf8').endsWith('\n');
    await vi.waitFor(() => expect(written('child') && written('grandchild')).toBe(true), { timeout: 10_000, interval: 20 });
    controller.abort();
    const { result, workspace } = await pending;
    expect(result.aborted).toBe(true);
    expect(result.exitCode).toBeNull();
    for (const file of ['child', 'grandchild']) {
      const pid = Number(readFileSync(join(workspace, file), 'utf8'));
      expect(pid).toBeGreaterThan(0);
      expect(isAlive(pid), `${file} ${pid} is gone`).toBe(false);
    }
  });

  test('what a command leaves running in its group when it exits is killed, and the run does not wait for it', async () => {
    const started = Date.now();
    const { result, workspace } = await runCommand(['/bin/sh', '-c', 'sleep 60 & echo $! > left-behind; echo done']);
    expect(result).toEqual({ exitCode: 0, aborted: false });
    expect(Date.now() - started).toBeLessThan(5_000);
    // Killed: gone once the kernel has reaped it, which a loaded machine may take a while to do.
    const leftBehind = Number(readFileSync(join(workspace, 'left-behind'), 'utf8'));
    await vi.waitFor(() => expect(isAlive(leftBehind)).toBe(false), { timeout: 10_000, interval: 20 });
  });

  test('a command killed by a signal reports it, with no exit code', async () => {
    const { result } = await runCommand(['/bin/sh', '-c', 'kill -KILL $$']);
    expect(result).toEqual({ exitCode: null, aborted: false, signal: 'SIGKILL' });
  });

  test('the launch hook gets argv, workspace, env and the network permission, and its process runs instead', async () => {
    const seen: { argv: readonly string[]; context: CommandLaunchContext }[] = [];
    const launch = {
      launch: (argv: readonly string[], context: CommandLaunchContext) => {
        seen.push({ argv, context });
        return { command: '/bin/sh', args: ['-c', 'echo "wrapped: $*"', 'wrapper', ...argv] };
      },
    };
    const denied = await runCommand(['echo', 'hi'], { launch, env: { A: '1' } });
    expect(denied.stdout).toBe('wrapped: echo hi\n');
    expect(seen[0]).toEqual({ argv: ['echo', 'hi'], context: { workspace: denied.workspace, env: { A: '1' }, network: false } });
    await runCommand(['true'], { launch, network: true });
    expect(seen[1]!.context.network).toBe(true);
  });

  test('a lifeline asks for a pipe on fd 3; without it the process has no fd 3', async () => {
    const probe = (lifeline: boolean) =>
      runCommand(['unused'], {
        launch: { launch: () => ({ command: '/bin/sh', args: ['-c', 'if [ -e /proc/$$/fd/3 ]; then echo fd3; else echo none; fi'], lifeline }) },
      });
    expect((await probe(true)).stdout).toBe('fd3\n');
    expect((await probe(false)).stdout).toBe('none\n');
  });

  test('a lifeline is closed on abort, so a wrapper watching it can kill what escaped the group', async () => {
    const controller = new AbortController();
    const workspace = temporaryDirectory();
    const marker = join(workspace, 'lifeline-closed');
    const watching = join(workspace, 'watching');
    const runtime = createCommandRuntime({
      killGraceMs: 100,
      // The watcher leaves the process group (setsid), as a sandbox's inner processes do.
      launch: () => ({
        command: '/bin/sh',
        args: ['-c', `setsid sh -c 'echo > "${watching}"; cat <&3 >/dev/null; echo closed > "${marker}"' & exec 3<&-; sleep 60`],
        lifeline: true,
      }),
    });
    const pending = runtime.run({
      workspace,
      spec: { kind: 'command', argv: ['x'] },
      env: { PATH: '/usr/bin:/bin' },
      signal: controller.signal,
      sinks: { stdout: () => undefined, stderr: () => undefined },
    });
    // Aborted once the watcher runs, however long the machine takes to start it.
    await vi.waitFor(() => expect(readIfExists(watching)).toBe('\n'), { timeout: 10_000, interval: 20 });
    controller.abort();
    expect((await pending).aborted).toBe(true);
    await vi.waitFor(() => expect(readIfExists(marker)).toBe('closed\n'), { timeout: 10_000, interval: 20 });
  });

  test('settings are checked: an unknown option or a launch that is not a function is CAIRN_CONFIG_INVALID naming it', () => {
    const attempt = (settings: unknown) => {
      try {
        createCommandRuntime(settings as never);
      } catch (error) {
        return isCairnError(error, 'CAIRN_CONFIG_INVALID') ? error.path : 'other error';
      }
      return 'accepted';
    };
    expect(attempt({ launch: 'bwrap' })).toBe('worker.commandRuntime.launch');
    expect(attempt({ killGrace: 10 })).toBe('worker.commandRuntime.killGrace');
    expect(attempt({ killGraceMs: -1 })).toBe('worker.commandRuntime.killGraceMs');
  });
});

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

// Keeps the helper honest: the process-group tests rely on it seeing a live process.
test('isAlive sees this process', () => {
  expect(isAlive(process.pid)).toBe(true);
});
