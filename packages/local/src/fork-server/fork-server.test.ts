import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGit, useProcessLauncher } from '@cairn/protocol/workspace';
import { afterAll, afterEach, expect, test } from 'vitest';
import { ForkServer } from './fork-server.ts';
import { runCommand } from './run-command.ts';

const parent = mkdtempSync(join(tmpdir(), 'cairn-fork-server-test-'));
const env = { PATH: '/usr/bin:/bin' };
const servers: ForkServer[] = [];
const server = (): ForkServer => {
  const made = new ForkServer(parent);
  servers.push(made);
  return made;
};

afterEach(() => useProcessLauncher(undefined));
afterAll(async () => {
  await Promise.all(servers.map((made) => made.close()));
  rmSync(parent, { recursive: true, force: true });
});

test('runs a program with exactly the given arguments, environment, folder and input, and returns its output and exit code', async () => {
  const launcher = server();
  const ended = await launcher.launch({
    argv: [
      '/bin/sh',
      '-c',
      'printf "%s|%s|%s|" "$1" "$ONLY" "$(pwd)"; cat; echo oops >&2; env | grep -c . >&2; exit 3',
      'shell',
      'one arg with spaces\nand a newline',
    ],
    cwd: '/usr',
    env: { ...env, ONLY: 'this' },
    input: Buffer.from('from stdin'),
  });
  expect(ended.exitCode).toBe(3);
  expect(ended.signal).toBeNull();
  expect(ended.stdout.toString()).toBe('one arg with spaces\nand a newline|this|/usr|from stdin');
  // PATH and ONLY, and the shell's own PWD: nothing of this process's environment.
  expect(ended.stderr.toString()).toBe('oops\n3\n');
});

test('many programs at once each get their own output; nothing is left in its folder', async () => {
  const launcher = server();
  const ended = await Promise.all(
    Array.from({ length: 40 }, (_, index) => launcher.launch({ argv: ['/bin/sh', '-c', `sleep 0.0$((${index} % 5)); echo ${index}`], cwd: '/', env })),
  );
  expect(ended.map((result) => result.stdout.toString().trim())).toEqual(Array.from({ length: 40 }, (_, index) => String(index)));
  const folders = readdirSync(parent).filter((name) => name.startsWith('cairn-fork-server-'));
  for (const folder of folders) expect(readdirSync(join(parent, folder))).toEqual([]);
});

test('output and input of any bytes and length come back whole, and no file of a running program is left in the folder', async () => {
  const launcher = server();
  // NULs, newlines and bytes that are not UTF-8, longer than a pipe's buffer, as input and as both outputs.
  const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, index) => (index * 7) % 256));
  const running = launcher.launch({ argv: ['/bin/sh', '-c', 'sleep 0.3; tee /dev/stderr'], cwd: '/', env, input: bytes });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const folders = readdirSync(parent).filter((name) => name.startsWith('cairn-fork-server-'));
  for (const folder of folders) expect(readdirSync(join(parent, folder))).toEqual([]);
  const [ended, other] = await Promise.all([running, launcher.launch({ argv: ['/usr/bin/printf', 'a\\0b\\n'], cwd: '/', env })]);
  expect(ended.exitCode).toBe(0);
  expect(ended.stdout.equals(bytes)).toBe(true);
  expect(ended.stderr.equals(bytes)).toBe(true);
  expect(other.stdout).toEqual(Buffer.from('a\0b\n'));
});

test('a program that is not there, or a folder that is not, rejects with the errno as spawn does', async () => {
  const launcher = server();
  await expect(launcher.launch({ argv: ['no-such-program-anywhere'], cwd: '/', env })).rejects.toMatchObject({
    code: 'ENOENT',
    message: 'spawn no-such-program-anywhere ENOENT',
  });
  await expect(launcher.launch({ argv: ['/bin/true'], cwd: '/no/such/folder', env })).rejects.toMatchObject({ code: 'ENOENT' });
  // The server goes on serving.
  expect((await launcher.launch({ argv: ['/bin/true'], cwd: '/', env })).exitCode).toBe(0);
});

test('an aborted launch kills its program and rejects with an AbortError; a signal says what ended it', async () => {
  const launcher = server();
  const controller = new AbortController();
  const started = Date.now();
  const sleeping = launcher.launch({ argv: ['/bin/sleep', '30'], cwd: '/', env, signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  await expect(sleeping).rejects.toMatchObject({ name: 'AbortError' });
  expect(Date.now() - started).toBeLessThan(5_000);
  const killed = await launcher.launch({ argv: ['/bin/sh', '-c', 'kill -TERM $$'], cwd: '/', env });
  expect(killed).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
});

test('a server that dies fails what it ran, saying so, and the next launch starts another', async () => {
  const launcher = server();
  const running = launcher.launch({ argv: ['/bin/sleep', '30'], cwd: '/', env });
  // Its rejection may come before pkill's own exit is taken in: looked for from the start.
  const failed = expect(running).rejects.toThrow(/the fork server \(\/usr\/bin\/perl\) exited \(SIGKILL\) while it ran 1 program/);
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The fork server is the only perl child of this process running its script.
  const { stdout } = await runCommand('/usr/bin/pkill', ['-KILL', '-P', String(process.pid), '-f', 'cairn-fork-server|use IO::Select'], { env });
  expect(stdout).toBe('');
  await failed;
  expect((await launcher.launch({ argv: ['/bin/echo', 'again'], cwd: '/', env })).stdout.toString()).toBe('again\n');
});

test('installed, it runs git for runGit and commands for runCommand, with the same results as without', async () => {
  const launcher = server();
  const repository = mkdtempSync(join(parent, 'repository-'));
  const without = await runGit({ cwd: repository }, ['init', '--quiet']).then(() => runGit({ cwd: repository }, ['status', '--porcelain=v2', '--branch']));
  const failedWithout = await runCommand('/bin/sh', ['-c', 'echo no >&2; exit 4'], { env }).catch((error: unknown) => error);
  useProcessLauncher(launcher);
  const through = await runGit({ cwd: repository }, ['status', '--porcelain=v2', '--branch']);
  const failedThrough = await runCommand('/bin/sh', ['-c', 'echo no >&2; exit 4'], { env }).catch((error: unknown) => error);
  expect(through).toEqual(without);
  expect(through.stdout.toString()).toContain('# branch.head cairn');
  for (const failed of [failedWithout, failedThrough]) expect(failed).toMatchObject({ code: 4, stderr: 'no\n' });
  const applied = await runGit({ cwd: repository }, ['apply', '--check', '-'], { input: Buffer.from('not a patch') });
  expect(applied.exitCode).not.toBe(0);
  expect(applied.stderr).toMatch(/No valid patches|unrecognized input/);
});

test('an output cut at a size: a longer one stops the program one byte past the limit, and runGit says it overflowed as without the server', async () => {
  const launcher = server();
  const long = await launcher.launch({ argv: ['head', '-c', '1000000', '/dev/zero'], cwd: '/', env, maxOutputBytes: 1_000 });
  expect(long.stdout.byteLength).toBe(1_001);
  expect(long.signal).toBe('SIGXFSZ');
  const exact = await launcher.launch({ argv: ['/bin/sh', '-c', 'head -c 1000 /dev/zero'], cwd: '/', env, maxOutputBytes: 1_000 });
  expect(exact).toMatchObject({ exitCode: 0, signal: null });
  expect(exact.stdout.byteLength).toBe(1_000);

  const repository = mkdtempSync(join(parent, 'repository-'));
  await runGit({ cwd: repository }, ['init', '--quiet']);
  const listed = async (maxOutputBytes: number) => runGit({ cwd: repository }, ['ls-files', '--others', '-z'], { maxOutputBytes });
  for (let file = 0; file < 50; file++) writeFileSync(join(repository, `file-${String(file).padStart(2, '0')}`), 'x');
  const [smallWithout, largeWithout] = [await listed(10_000), await listed(100)];
  useProcessLauncher(launcher);
  const [smallThrough, largeThrough] = [await listed(10_000), await listed(100)];
  expect(smallThrough).toEqual(smallWithout);
  expect(smallThrough.stdout.byteLength).toBe(50 * 'file-00'.length + 50);
  expect(largeWithout).toMatchObject({ overflowed: true, stdout: Buffer.alloc(0) });
  expect(largeThrough).toMatchObject({ overflowed: true, stdout: Buffer.alloc(0) });
});

test('a capped run is the program itself under the limit (soft and hard), and one that cannot start says why as without a cap', async () => {
  const launcher = server();
  const limits = await launcher.launch({ argv: ['/bin/cat', '/proc/self/limits'], cwd: '/', env, maxOutputBytes: 100_000 });
  expect(limits.exitCode).toBe(0);
  expect(limits.stdout.toString()).toMatch(/^Max file size +100001 +100001 +bytes/m);
  // The limit is the program's alone: the next run without one is not under it.
  const uncapped = await launcher.launch({ argv: ['/bin/cat', '/proc/self/limits'], cwd: '/', env });
  expect(uncapped.stdout.toString()).not.toMatch(/^Max file size +100001 /m);
  if (process.arch === 'x64' || process.arch === 'arm64') {
    // The server's child sets the limit itself (no prlimit execs the program): a missing one is ENOENT, not prlimit's exit 127.
    await expect(launcher.launch({ argv: ['/no/such/program'], cwd: '/', env, maxOutputBytes: 1_000 })).rejects.toMatchObject({ code: 'ENOENT' });
  }
});

test("a /usr/bin/perl -e program runs in the server's child as perl would run it: its arguments, environment, input, output, exit and die", async () => {
  const launcher = server();
  const program = [
    'use strict; use warnings;',
    // The server's lexicals are not in its scope ($folder is one), and it is named -e.
    'no strict "vars"; print join("|", @ARGV, $ENV{ONLY}, scalar(<STDIN>), defined($folder) ? "seen" : "unseen", $0), "\\n";',
    'print STDERR "to stderr\\n"; exit 3;',
  ].join('\n');
  const ended = await launcher.launch({
    argv: ['/usr/bin/perl', '-e', program, 'one', 'two'],
    cwd: '/',
    env: { ...env, ONLY: 'this' },
    input: Buffer.from('line'),
  });
  expect(ended).toMatchObject({ exitCode: 3, signal: null });
  expect(ended.stdout.toString()).toBe('one|two|this|line|unseen|-e\n');
  expect(ended.stderr.toString()).toBe('to stderr\n');
  const died = await launcher.launch({ argv: ['/usr/bin/perl', '-e', '$! = 2; die "no luck\\n"'], cwd: '/', env });
  expect(died).toMatchObject({ exitCode: 2, signal: null });
  expect(died.stderr.toString()).toBe('no luck\n');
  const compileError = await launcher.launch({ argv: ['/usr/bin/perl', '-e', 'this is not perl ('], cwd: '/', env });
  expect(compileError.exitCode).not.toBe(0);
  expect(compileError.stderr.toString()).toMatch(/^syntax error at -e line 1/);
  // Under a cap as any program.
  const capped = await launcher.launch({ argv: ['/usr/bin/perl', '-e', 'print "x" x 10_000'], cwd: '/', env, maxOutputBytes: 100 });
  expect(capped.stdout.byteLength).toBe(101);
});

test('closing a server from a process with nothing else to do waits for it to end, and the process ends cleanly', async () => {
  // A child process that only closes a server it used: it must print its line and exit 0, not end early (13) with the close unsettled.
  const script = [
    `import { ForkServer } from ${JSON.stringify(new URL('./fork-server.ts', import.meta.url).href)};`,
    'const server = new ForkServer(process.argv[1]);',
    "await server.launch({ argv: ['/bin/true'], cwd: '/', env: { PATH: '/usr/bin:/bin' } });",
    'await new Promise((resolve) => setTimeout(resolve, 50));',
    'await server.close();',
    "console.log('closed');",
  ].join('\n');
  const { stdout } = await runCommand(process.execPath, ['--input-type=module', '--eval', script, parent], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
  }).catch((error: { code?: number; stdout?: string }) => ({ stdout: `exit ${error.code}: ${error.stdout}` }));
  expect(stdout).toBe('closed\n');
});
