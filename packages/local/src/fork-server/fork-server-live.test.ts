// ForkServer.start: programs whose output is read as it comes, with a lifeline the server holds
// (the command runtime's sandbox on a runner). What kills the sandbox when the runner is killed is
// tested in the sandbox's escape tests ("outlive its host").
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { RuntimeSpec } from '@cairn/core';
import { describeRuntimeAdapter, type RuntimeAdapterScenario } from '@cairn/conformance';
import { useProcessLauncher } from '@cairn/protocol/workspace';
import { createCommandRuntime } from '@cairn/worker';
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { ForkServer } from './fork-server.ts';

const parent = mkdtempSync(join(tmpdir(), 'cairn-fork-server-live-test-'));
const env = { PATH: '/usr/bin:/bin' };
const servers: ForkServer[] = [];
const server = (): ForkServer => {
  const made = new ForkServer(parent);
  servers.push(made);
  return made;
};

afterAll(async () => {
  await Promise.all(servers.map((made) => made.close()));
  rmSync(parent, { recursive: true, force: true });
});

function collect(stream: Readable): { text: () => string; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { text: () => Buffer.concat(chunks).toString(), ended: new Promise((resolve) => stream.once('close', () => resolve())) };
}

test('a started program gets exactly its arguments, environment and folder, a session of its own, /dev/null in, and anonymous pipes out', async () => {
  const folder = mkdtempSync(join(parent, 'cwd-'));
  // Its pid, process group and session: fields 1, 5 and 6 of /proc/self/stat (sh's own, $$).
  const script =
    'printf "%s|%s|%s\\n" "$1" "$(pwd)" "$ONLY"; /usr/bin/env | sort; readlink /proc/$$/fd/0 /proc/$$/fd/1; readlink /proc/$$/fd/2 >&2; read -r pid _ _ _ group session _ < /proc/$$/stat; echo "$pid $group $session"';
  const started = await server().start({ argv: ['/bin/sh', '-c', script, 'probe', 'an argument'], cwd: folder, env: { ...env, ONLY: 'this' } });
  const [stdout, stderr] = [collect(started.stdout), collect(started.stderr)];
  expect(await started.exited).toEqual({ exitCode: 0, signal: null });
  await Promise.all([stdout.ended, stderr.ended]);
  const lines = stdout.text().trim().split('\n');
  expect(lines[0]).toBe(`an argument|${folder}|this`);
  expect(lines.filter((line) => /^[A-Z_]+=/.test(line) && !line.startsWith('PWD='))).toEqual(['ONLY=this', 'PATH=/usr/bin:/bin']);
  // A pipe as a spawn's, no path: a named pipe's would show the host's folder inside a sandbox.
  expect(lines.slice(-3, -1)).toEqual(['/dev/null', expect.stringMatching(/^pipe:\[\d+\]$/)]);
  expect(stderr.text()).toMatch(/^pipe:\[\d+\]\n$/);
  expect(lines.at(-1)).toBe(`${started.pid} ${started.pid} ${started.pid}`);
});

test('its output comes as it is written; its lifeline (fd 3) holds until closeLifeline, and without one there is no fd 3', async () => {
  const launcher = server();
  const started = await launcher.start({ argv: ['/bin/sh', '-c', 'echo waiting; read -r _ <&3; echo released >&2'], cwd: '/', env, lifeline: true });
  const [stdout, stderr] = [collect(started.stdout), collect(started.stderr)];
  await vi.waitFor(() => expect(stdout.text()).toBe('waiting\n'), { timeout: 10_000, interval: 20 });
  expect(stderr.text()).toBe('');
  started.closeLifeline();
  expect(await started.exited).toEqual({ exitCode: 0, signal: null });
  await stderr.ended;
  expect(stderr.text()).toBe('released\n');
  const none = await launcher.start({ argv: ['/bin/sh', '-c', 'if [ -e /proc/$$/fd/3 ]; then echo fd3; else echo none; fi'], cwd: '/', env });
  const probe = collect(none.stdout);
  await none.exited;
  await probe.ended;
  expect(probe.text()).toBe('none\n');
});

test('the lifeline closes when the program ends, and a signal to its group says what ended it', async () => {
  const launcher = server();
  const folder = mkdtempSync(join(parent, 'marker-'));
  const [watching, marker] = [join(folder, 'watching'), join(folder, 'closed')];
  // The watcher leaves the group (setsid) and outlives the program, as a sandbox's inner processes may.
  const started = await launcher.start({
    argv: ['/bin/sh', '-c', `setsid sh -c 'echo > "${watching}"; cat <&3 >/dev/null; echo closed > "${marker}"' & exec 3<&-; exec sleep 60`],
    cwd: '/',
    env,
    lifeline: true,
  });
  // Signalled once the watcher has left the group, however long the machine takes to start it.
  await vi.waitFor(() => expect(readFileSync(watching, 'utf8')).toBe('\n'), { timeout: 10_000, interval: 20 });
  process.kill(-started.pid, 'SIGTERM');
  expect(await started.exited).toEqual({ exitCode: null, signal: 'SIGTERM' });
  await vi.waitFor(() => expect(readFileSync(marker, 'utf8')).toBe('closed\n'), { timeout: 10_000, interval: 20 });
});

test('a program that is not there rejects with ENOENT, as spawn does', async () => {
  await expect(server().start({ argv: ['/no/such/program'], cwd: '/', env })).rejects.toMatchObject({ code: 'ENOENT' });
  await expect(server().start({ argv: ['/bin/true'], cwd: '/no/such/folder', env })).rejects.toMatchObject({ code: 'ENOENT' });
});

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

describe('installed, the command runtime starts its commands through it', () => {
  const installed = server();
  beforeEach(() => useProcessLauncher(installed));
  afterEach(() => useProcessLauncher(undefined));
  describeRuntimeAdapter({
    name: 'command (through a fork server, with a lifeline)',
    create: () => createCommandRuntime({ launch: (argv) => ({ command: '/usr/bin/env', args: ['--', ...argv], lifeline: true }) }),
    scenario: scenarioSpec,
  });

  test('and not through Node: the command is a child of the server', async () => {
    const out: Buffer[] = [];
    const result = await createCommandRuntime({ launch: (argv) => ({ command: argv[0]!, args: argv.slice(1), lifeline: true }) }).run({
      workspace: '/',
      spec: { kind: 'command', argv: ['/bin/sh', '-c', 'ps -o ppid= -p $$; ps -o ppid= -p $PPID'] },
      env,
      signal: new AbortController().signal,
      sinks: { stdout: (chunk) => void out.push(Buffer.from(chunk)), stderr: () => undefined },
    });
    expect(result).toEqual({ exitCode: 0, aborted: false });
    const [serverPid, serverParent] = Buffer.concat(out).toString().trim().split('\n').map(Number);
    expect(serverParent).toBe(process.pid);
    expect(serverPid).not.toBe(process.pid);
  });
});

test("a Perl program run in the server's child holds no lifeline of another program: closing it ends that program while the Perl one still runs", async () => {
  const launcher = server();
  const started = await launcher.start({ argv: ['/bin/sh', '-c', 'echo waiting; read -r _ <&3; echo released'], cwd: '/', env, lifeline: true });
  const stdout = collect(started.stdout);
  await vi.waitFor(() => expect(stdout.text()).toBe('waiting\n'), { timeout: 10_000, interval: 20 });
  // Runs 5 s in a fork of the server (`defined &run_script`: the server's own sub, no exec); a copy
  // of the lifeline it kept would hold the started program until it ends.
  const perl = launcher.launch({ argv: ['/usr/bin/perl', '-e', 'print defined(&main::run_script) ? "forked\n" : "exec\n"; sleep 5', 'x'], cwd: '/', env });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const closedAt = Date.now();
  started.closeLifeline();
  expect(await started.exited).toEqual({ exitCode: 0, signal: null });
  expect(Date.now() - closedAt).toBeLessThan(3_000);
  await stdout.ended;
  expect(stdout.text()).toBe('waiting\nreleased\n');
  expect((await perl).stdout.toString()).toBe('forked\n');
}, 20_000);
