// docs/operations/runners.md runs as written, as root: its server blocks in a server's folder (the
// config, the runner's token and key, doctor), then that server serving; its runner host's block in
// a mount namespace of its own (/etc and /usr/local/bin laid over the machine's, /var/lib a folder
// of this test: the machine's are never touched), the unit it writes checked by systemd-analyze and
// its ExecStart run as systemd would (EnvironmentFile's variables, StateDirectory made, stopped
// with KillSignal); then a run on `executor: runners`, `cairn runners`, a drain and a resume. The
// page's server address, https://cairn.example.com, is the test server's. Not run: `npm install -g`
// and `systemctl` (no registry, no systemd as PID 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { removeWithMounts } from '@cairn/local';
import { afterEach, expect, test } from 'vitest';
import { initServer } from '../../cli/init-server.ts';
import { composeServer } from '../../composition/compose-server.ts';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { httpApiSettingsOf } from '../../http/http-api-settings.ts';
import { buildHttpApi } from '../../http/http-server.ts';

const page = fileURLToPath(new URL('../../../../../docs/operations/runners.md', import.meta.url));
const cli = fileURLToPath(new URL('../../cli/cli.ts', import.meta.url));
const pageAddress = 'https://cairn.example.com';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanUp of cleanups.splice(0).reverse()) await cleanUp();
});

function shellBlocks(): string[] {
  return [...readFileSync(page, 'utf8').matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `script` with bash -euo pipefail in `cwd`; resolves with its exit status and output. */
function run(script: string, cwd: string, env: NodeJS.ProcessEnv, limitMs = 120_000): Promise<{ status: number | null; output: string }> {
  const shell = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  shell.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  shell.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => process.kill(-shell.pid!, 'SIGKILL'), limitMs);
  return new Promise((resolve) =>
    shell.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, output: output + (signal ? `\n(killed by ${signal})` : '') });
    }),
  );
}

async function until(what: string, look: () => boolean, limitMs = 60_000): Promise<void> {
  for (const started = Date.now(); !look(); await sleep(50)) if (Date.now() - started > limitMs) throw new Error(`waited ${limitMs} ms for ${what}`);
}

test.skipIf(process.getuid?.() !== 0)(
  'docs/operations/runners.md: a runner token and key made, a runner installed as its systemd unit says, a run on it, drained and resumed, as written',
  { timeout: 300_000 },
  async () => {
    const blocks = shellBlocks();
    expect(blocks).toHaveLength(7);
    const [enable, install, onTheRunnerHost, systemctl, submit, drain, resume] = blocks as [string, string, string, string, string, string, string];
    expect(install).toContain('npm install -g @cairn/server');
    expect(systemctl).toContain('systemctl enable --now cairn-runner');

    const root = mkdtempSync(join(tmpdir(), 'cairn-runners-doc-'));
    // Sandboxes start as their own uids and must pass through to their workspaces.
    chmodSync(root, 0o711);
    cleanups.push(() => removeWithMounts(root));
    const folders = Object.fromEntries(
      ['server', 'runner-host', 'bin', 'etc-upper', 'etc-work', 'local-bin-upper', 'local-bin-work', 'var-lib', 'home'].map((name) => {
        const folder = join(root, name);
        mkdirSync(folder, { mode: 0o711 });
        return [name, folder];
      }),
    ) as Record<string, string>;
    // This checkout's cairn, from its source, where the page's reader has the installed one.
    const cairn = join(folders['bin']!, 'cairn');
    writeFileSync(cairn, `#!/bin/sh\nexec ${process.execPath} --conditions=@cairn/source ${cli} "$@"\n`, { mode: 0o755 });
    copyFileSync(cairn, join(folders['local-bin-upper']!, 'cairn'));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      HOME: folders['home'],
      LANG: 'C.UTF-8',
      CAIRN_PORT: String(port),
      PATH: [folders['bin'], dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'].join(':'),
    };

    // On the server: runners enabled, a runner's token and the server's key made, doctor.
    const { operatorToken } = await initServer(folders['server']!);
    const enabled = await run(enable, folders['server']!, env);
    expect(enabled.status, enabled.output).toBe(0);
    expect(enabled.output).toMatch(/ok +runners +enabled, leaseSeconds 30: .*; 1 live runners:run token \(build-1\)/);
    expect(statSync(join(folders['server']!, 'build-1.token')).mode & 0o777).toBe(0o600);

    // The server, started again with runners (in this process: the test reads its lease book).
    const loaded = loadServerConfig({ directory: folders['server']!, env: { CAIRN_PORT: String(port) } });
    expect(loaded.config.runners).toEqual({ enabled: true, leaseSeconds: 30 });
    const composition = await composeServer(loaded);
    const app = await buildHttpApi({ composition, ...httpApiSettingsOf(loaded.config.server), host: '127.0.0.1', auth: 'tokens' });
    composition.start();
    const base = await app.listen({ host: '127.0.0.1', port });
    cleanups.push(async () => {
      await app.close();
      await composition.close();
    });
    const book = composition.runners!;

    // On the runner's host: the token and the key carried over, the block run, the unit started as systemd would.
    for (const file of ['build-1.token', 'signing-key.pub.pem']) copyFileSync(join(folders['server']!, file), join(folders['runner-host']!, file));
    const hostBlock = onTheRunnerHost.replaceAll(pageAddress, base);
    const host = [
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${folders['etc-upper']},workdir=${folders['etc-work']} /etc`,
      `mount -t overlay overlay -o lowerdir=/usr/local/bin,upperdir=${folders['local-bin-upper']},workdir=${folders['local-bin-work']} /usr/local/bin`,
      `mount --bind ${folders['var-lib']} /var/lib`,
      // The page's block, then what systemd does for the unit it wrote.
      'bash -euo pipefail -c "$0"',
      'unit=/etc/systemd/system/cairn-runner.service',
      'mkdir -p -m "$(sed -n "s/^StateDirectoryMode=//p" "$unit")" /var/lib/"$(sed -n "s/^StateDirectory=//p" "$unit")"',
      'set -a; . "$(sed -n "s/^EnvironmentFile=//p" "$unit")"; set +a',
      'exec $(sed -n "s/^ExecStart=//p" "$unit")',
    ].join(' && ');
    let runnerOutput = '';
    const runner: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-euo', 'pipefail', '-c', host, hostBlock], {
      cwd: folders['runner-host'],
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runner.stdout!.on('data', (chunk: Buffer) => (runnerOutput += chunk.toString()));
    runner.stderr!.on('data', (chunk: Buffer) => (runnerOutput += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      runner.once('exit', (code, signal) => resolve({ code, signal })),
    );
    cleanups.push(async () => {
      if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
      await exited;
    });
    await until('the runner to poll', () => book.runners().length === 1 || runner.exitCode !== null);
    expect(runner.exitCode, runnerOutput).toBeNull();
    expect(runnerOutput).toContain('runner started');

    // What the block left on the host: the token readable by root only, the unit systemd-analyze took (it would have failed the block).
    const environmentFile = join(folders['etc-upper']!, 'cairn', 'runner.env');
    expect(statSync(environmentFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(environmentFile, 'utf8')).toMatch(/^CAIRN_RUNNER_TOKEN=cairn_\w+_[\w-]+\n$/);
    const unit = readFileSync(join(folders['etc-upper']!, 'systemd', 'system', 'cairn-runner.service'), 'utf8');
    const key = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1];
    expect([key('KillSignal'), key('KillMode'), key('Restart'), key('EnvironmentFile')]).toEqual(['SIGTERM', 'mixed', 'on-failure', '/etc/cairn/runner.env']);
    const drainGrace = Number(/--drain-grace (\d+)/.exec(key('ExecStart')!)?.[1]);
    expect(Number(key('TimeoutStopSec'))).toBeGreaterThan(drainGrace);
    expect(book.runners()[0]).toMatchObject({ labels: ['linux', 'pool=build'], state: 'connected', slots: 2 });

    // On the server: a run on the runner, then the list.
    const client = { ...env, CAIRN_TOKEN: operatorToken };
    const submitted = await run(submit, folders['server']!, client);
    expect(submitted.status, `${submitted.output}\n--- runner:\n${runnerOutput}`).toBe(0);
    expect(submitted.output).toContain('run succeeded: 1/1 items finished');
    expect(runnerOutput).toMatch(/"executionId":"r-[^"]+\/build\/1".*"msg":"lease taken"/);
    expect(submitted.output).toMatch(/^build-1 +token:[0-9a-f]{12} +connected +v\S+ +labels linux,pool=build +free 2 +held 0 +last poll \S+$/m);

    const sample = /^```text\n(build-1 .*)\n```$/m.exec(readFileSync(page, 'utf8'))![1]!;
    const shape = (line: string) => line.replace(/token:[0-9a-f]{12}/, 'token:ID').replace(/last poll \S+$/, 'last poll T');
    expect(shape(sample)).toBe(shape(/^build-1 .*$/m.exec(submitted.output)![0]));

    // Maintenance: drained, it says so once; what it held is done; resumed, it says so.
    const drained = await run(drain, folders['server']!, client, 60_000);
    expect(drained.status, drained.output).toBe(0);
    expect(drained.output).toContain('runner build-1 (token:');
    expect(book.runners()[0]).toMatchObject({ draining: true, held: 0 });
    await until('the runner to hear of its drain', () => runnerOutput.includes('drained by the server'));
    const resumed = await run(resume, folders['server']!, client);
    expect(resumed.status, resumed.output).toBe(0);
    expect(resumed.output).toContain('resumed: it takes attempts again');
    await until('the runner to hear it is resumed', () => runnerOutput.includes('resumed by the server'));

    // Stopped as systemd stops it: KillSignal to the main process; it drains (nothing held) and exits 0.
    runner.kill(key('KillSignal') as NodeJS.Signals);
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(runnerOutput).toContain('runner stopped');
  },
);
