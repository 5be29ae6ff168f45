// Escape attempts from inside a bubblewrap sandbox, each judged from outside: by what the host
// saw (connections, files, processes), not by what the sandbox claims.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { cleanUp, freshUid, processesOf, runSandboxed, testLimits, workspaceFor } from './sandbox.test-support.ts';

const directories: string[] = [];
afterEach(() => cleanUp(directories));

const node = (script: string) => ['/usr/bin/node', '-e', script];

function sandbox() {
  const uid = freshUid();
  return { uid, workspace: workspaceFor(uid, directories) };
}

describe('a sandbox cannot', () => {
  test('reach a port on the host loopback, or resolve a name', async () => {
    const connections: number[] = [];
    const server = createServer((socket) => {
      connections.push(1);
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const result = await runSandboxed(
        node(
          `const s=require('net').connect(${port},'127.0.0.1');s.on('connect',()=>{console.log('CONNECTED');process.exit(0)});s.on('error',e=>{console.log(e.code);require('dns').lookup('registry.npmjs.org',(d)=>{console.log(d?d.code:'RESOLVED');process.exit(1)})})`,
        ),
        sandbox(),
      );
      expect(result.stdout).not.toContain('CONNECTED');
      expect(result.stdout).not.toContain('RESOLVED');
      expect(result.stdout).toMatch(/ECONNREFUSED/);
      expect(connections).toEqual([]);
    } finally {
      server.close();
    }
  });

  test('reach the host loopback (the server API) with network: true, while its own network is configured', async () => {
    const connections: string[] = [];
    const server = createServer((socket) => {
      connections.push(String(socket.remoteAddress));
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Every address of this host, plus the user-mode stack's gateway (only tried where the sandbox
    // has its own tap interface: with the host's network it would leave the machine).
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .filter((entry) => entry !== undefined && entry.family === 'IPv4')
      .map((entry) => entry!.address);
    const script = `
      const net = require('net'), fs = require('fs');
      const route = fs.readFileSync('/proc/net/route', 'utf8');
      console.log('ROUTE ' + JSON.stringify(route.split('\\n').slice(1).filter(Boolean).map((line) => line.split('\\t').slice(0, 3))));
      const targets = ${JSON.stringify(['127.0.0.1', ...hostAddresses])}.concat(route.includes('tap0') ? ['10.0.2.2'] : []);
      let left = targets.length;
      for (const host of targets) {
        const s = net.connect(${port}, host);
        s.setTimeout(1500, () => { console.log('TIMEOUT ' + host); s.destroy(); if (--left === 0) process.exit(0); });
        s.on('connect', () => { console.log('CONNECTED ' + host); s.destroy(); if (--left === 0) process.exit(0); });
        s.on('error', (e) => { console.log(e.code + ' ' + host); if (--left === 0) process.exit(0); });
      }`;
    try {
      const result = await runSandboxed(node(script), { ...sandbox(), network: true });
      expect(result.stdout).not.toContain('CONNECTED');
      expect(connections).toEqual([]);
      // Its own network: a tap interface with a default route through the user-mode stack's gateway.
      const routes = JSON.parse(/^ROUTE (.*)$/m.exec(result.stdout)?.[1] ?? '[]') as string[][];
      expect(routes).toContainEqual(['tap0', '00000000', '0202000A']);
      expect(result.code).toBe(0);
    } finally {
      server.close();
    }
  });

  test('start a nested user namespace (unshare -r gives no root)', async () => {
    for (const network of [false, true]) {
      const result = await runSandboxed(['/bin/sh', '-c', 'unshare -r id; echo "status $?"'], { ...sandbox(), network });
      expect(result.stdout, `network: ${network}`).not.toMatch(/uid=0/);
      expect(result.stdout).not.toContain('status 0');
    }
  });

  test('learn host paths from pid 1 (its cmdline and environ)', async () => {
    process.env['CAIRN_HOST_MARKER'] = '/host/marker/path';
    try {
      for (const network of [false, true]) {
        const { workspace, uid } = sandbox();
        const result = await runSandboxed(
          ['/bin/sh', '-c', 'for f in /proc/1/cmdline /proc/1/environ /proc/1/task/1/cmdline /proc/1/task/1/environ; do tr "\\0" " " < $f; echo; done'],
          { workspace, uid, network },
        );
        expect(result.stdout, `network: ${network}`).not.toContain(workspace);
        expect(result.stdout).not.toContain('--bind');
        expect(result.stdout).not.toContain('/host/marker/path');
      }
    } finally {
      delete process.env['CAIRN_HOST_MARKER'];
    }
  });

  test('write to /usr, /etc, the host home or anywhere but its workspace', async () => {
    const marker = `cairn-escape-${process.pid}-${Date.now()}`;
    const targets = [`/usr/${marker}`, `/etc/${marker}`, `/root/${marker}`, `/${marker}`, `/tmp/${marker}`];
    const { workspace, uid } = sandbox();
    const result = await runSandboxed(
      ['/bin/sh', '-c', `${targets.map((target) => `echo x > ${target} 2>/dev/null && echo WROTE ${target}`).join('; ')}; echo ok > /workspace/allowed`],
      { workspace, uid },
    );
    // /tmp inside is the sandbox's own tmpfs: the write there succeeds and vanishes with it.
    expect(result.stdout.trim().split('\n').filter(Boolean)).toEqual([`WROTE /tmp/${marker}`]);
    for (const target of targets) expect(existsSync(target), target).toBe(false);
    expect(readFileSync(join(workspace, 'allowed'), 'utf8')).toBe('ok\n');
  });

  test('see the server data directory, the signing key, another sandbox workspace, or host processes', async () => {
    const data = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    directories.push(data);
    const key = join(data, 'signing-key.pem');
    writeFileSync(key, 'PRIVATE KEY MATERIAL', { mode: 0o600 });
    const other = sandbox();
    writeFileSync(join(other.workspace, 'secret.txt'), 'other sandbox');
    const result = await runSandboxed(
      ['/bin/sh', '-c', `cat ${key} ${join(other.workspace, 'secret.txt')} /proc/${process.pid}/environ 2>&1; ls ${data} 2>&1; ls /proc | grep -c '^[0-9]'`],
      sandbox(),
    );
    expect(result.stdout).not.toContain('PRIVATE KEY MATERIAL');
    expect(result.stdout).not.toContain('other sandbox');
    expect(result.stdout).toMatch(/No such file/);
    // Its own PID namespace: a handful of its own processes, none of the host's.
    expect(Number(result.stdout.trim().split('\n').at(-1))).toBeLessThan(8);
  });

  test('make a user namespace of its own (a root of its own: `unshare -r id`)', async () => {
    const result = await runSandboxed(
      ['/bin/sh', '-c', 'unshare -r id 2>&1; echo "exit $?"; unshare --user --map-root-user /bin/true 2>&1; echo "exit $?"'],
      sandbox(),
    );
    expect(result.stdout).not.toMatch(/uid=0/);
    expect(result.stdout.match(/exit (\d+)/g)).toEqual(['exit 1', 'exit 1']);
  });

  test("learn the host's paths from pid 1 (bubblewrap's command line and environment)", async () => {
    const { workspace, uid } = sandbox();
    const result = await runSandboxed(
      ['/bin/sh', '-c', 'for file in /proc/1/cmdline /proc/1/environ; do echo "== $file"; tr "\\0" " " < $file 2>&1; echo; done'],
      { workspace, uid },
    );
    expect(result.stdout).toContain('== /proc/1/cmdline');
    expect(result.stdout).not.toContain(workspace);
    expect(result.stdout).not.toContain('bwrap');
    expect(result.stdout).not.toContain('--bind');
  });

  test('read the host environment (tokens, cloud keys)', async () => {
    process.env['AWS_SECRET_ACCESS_KEY'] = 'host-secret-key';
    process.env['CAIRN_TOKEN'] = 'host-token';
    try {
      const result = await runSandboxed(['/usr/bin/env'], sandbox());
      expect(result.stdout).not.toContain('host-secret-key');
      expect(result.stdout).not.toContain('host-token');
      expect(result.stdout.trim().split('\n').sort()).toEqual(['HOME=/workspace', 'PATH=/usr/bin:/bin', 'PWD=/workspace']);
    } finally {
      delete process.env['AWS_SECRET_ACCESS_KEY'];
      delete process.env['CAIRN_TOKEN'];
    }
  });

  test('fork without bound: a fork bomb hits its process limit, and everything is gone once it is killed', async () => {
    const { workspace, uid } = sandbox();
    let peak = 0;
    const watching = setInterval(() => (peak = Math.max(peak, processesOf([uid]).length)), 50);
    const result = await runSandboxed(['/bin/sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived'], { workspace, uid, timeoutMs: 4_000 });
    clearInterval(watching);
    // It hit the limit (the shell says it could not fork) and never went past it.
    expect(result.stderr).toMatch(/Cannot fork|Resource temporarily unavailable/);
    expect(peak).toBeLessThanOrEqual(64 + 2);
    await sleep(500);
    expect(processesOf([uid])).toEqual([]);
    expect(result.code === null || result.stdout.includes('survived')).toBe(true);
  });

  test('allocate 8 GiB', async () => {
    const result = await runSandboxed(node('const a = new Uint8Array(8 * 2 ** 30); a.fill(1); console.log("ALLOCATED")'), sandbox());
    expect(result.stdout).not.toContain('ALLOCATED');
    expect(result.code).not.toBe(0);
  });

  test('use more memory than its cgroup allows: the sandbox is killed, the host untouched', { timeout: 30_000 }, async () => {
    const { workspace, uid } = sandbox();
    const { sandboxLauncher } = await import('./sandbox-launcher.ts');
    const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 }, memoryBytes: 256 * 1024 * 1024 });
    const { command, args } = launch(node('const a = []; for (let i = 0; i < 1024; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("ALLOCATED")'), {
      workspace,
      env: { PATH: '/usr/bin:/bin' },
      network: false,
    });
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // The cgroup is removed with the sandbox: its peak is read while it lives.
    let peak = 0;
    const reading = setInterval(() => {
      try {
        peak = Math.max(peak, Number(readFileSync(`/sys/fs/cgroup/memory/cairn/${uid}/memory.max_usage_in_bytes`, 'utf8')));
      } catch {
        // Not made yet, or already removed.
      }
    }, 5);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearInterval(reading);
    expect(stdout).not.toContain('ALLOCATED');
    expect(code).not.toBe(0);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(256 * 1024 * 1024 + 4096);
  });

  test('outlive a kill: a sandbox sleeping forever is gone, with all it started, once its bubblewrap is killed', async () => {
    const { workspace, uid } = sandbox();
    const running = runSandboxed(['/bin/sh', '-c', 'sleep infinity & sleep infinity & sleep infinity'], { workspace, uid, timeoutMs: 1_000 });
    await running;
    await sleep(200);
    expect(processesOf([uid])).toEqual([]);
  });

  // The host: a process of its own that starts the sandboxes, as the server would (Node's spawn,
  // with a pipe on fd 3), or as a runner does (through its fork server, which holds the lifelines).
  const hosts = {
    'the process running 20 sandboxes': `
      const { spawn } = require('node:child_process');
      const [command, ...jobs] = JSON.parse(process.argv[1]);
      for (const args of jobs) spawn(command, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true });
      setInterval(() => {}, 1000);
    `,
    'a runner whose fork server started its 20 sandboxes': `
      const { ForkServer } = await import(${JSON.stringify(new URL('../fork-server/fork-server.ts', import.meta.url).pathname)});
      const [command, ...jobs] = JSON.parse(process.argv[1]);
      const server = new ForkServer(process.argv[2]);
      for (const args of jobs) await server.start({ argv: [command, ...args], cwd: '/', env: { PATH: '/usr/bin:/bin' }, lifeline: true });
      setInterval(() => {}, 1000);
    `,
  };
  for (const [host, hostScript] of Object.entries(hosts)) {
    test(`outlive its host: kill -9 of ${host} leaves none after 2 s`, { timeout: 30_000 }, async () => {
      const uids = Array.from({ length: 20 }, () => freshUid());
      const workspaces = uids.map((uid) => workspaceFor(uid, directories));
      const { bubblewrapCommand } = await import('./bubblewrap-command.ts');
      const commands = uids.map((uid, index) =>
        bubblewrapCommand(['/bin/sh', '-c', 'sleep infinity & sleep infinity'], {
          workspace: workspaces[index]!,
          uid,
          env: { PATH: '/usr/bin:/bin' },
          network: false,
          limits: { processes: 64 },
        }),
      );
      const module = hostScript.includes('await import') ? ['--input-type=module'] : [];
      const jobs = JSON.stringify([commands[0]!.command, ...commands.map((command) => command.args)]);
      // The fork server's folder, which a host killed with SIGKILL does not remove.
      const folder = mkdtempSync(join(tmpdir(), 'cairn-sandbox-host-'));
      directories.push(folder);
      const host = spawn(process.execPath, [...module, '-e', hostScript, jobs, folder], { stdio: 'ignore' });
      for (let wait = 0; wait < 200 && processesOf(uids).length < 40; wait++) await sleep(50);
      expect(processesOf(uids).length).toBeGreaterThanOrEqual(40);
      process.kill(host.pid!, 'SIGKILL');
      await sleep(2_000);
      const left = processesOf(uids).map((pid) => {
        try {
          return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 80)} ${/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]}`;
        } catch {
          return String(pid);
        }
      });
      expect(left).toEqual([]);
    });
  }
});
