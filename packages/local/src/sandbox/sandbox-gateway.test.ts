// The model gateway's way into a sandbox: 127.0.0.1:<port> inside leads to one Unix socket on the
// host, and to nothing else. Judged from outside: what the socket's server and the host's loopback
// server saw, which processes are left.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { bubblewrapCommand } from './bubblewrap-command.ts';
import { sandboxLauncher } from './sandbox-launcher.ts';
import { cleanUp, freshUid, processesOf, runLaunch, runSandboxed, testLimits } from './sandbox.test-support.ts';

const directories: string[] = [];
const servers: { close(): unknown }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  cleanUp(directories);
});

const gatewayPort = 4010;
const megabyte = 1024 * 1024;
/** The body the sandbox streams up: a pattern it can make itself, hashed here to compare. */
const uploadPattern = '(index) => (index * 31 + (index >> 9)) & 255';
const uploadHash = createHash('sha256')
  .update(Buffer.from(Array.from({ length: megabyte }, (_, index) => (index * 31 + (index >> 9)) & 255)))
  .digest('hex');

/** An attempt's folder as the worker lays it out: the workspace and the gateway's socket side by side, root's. */
function attempt() {
  const uid = freshUid();
  const folder = mkdtempSync(join(tmpdir(), 'cairn-attempt-'));
  directories.push(folder);
  const workspace = join(folder, 'workspace');
  mkdirSync(workspace);
  return { uid, folder, workspace, socket: join(folder, 'gateway.sock') };
}

interface Seen {
  requests: { method: string; url: string; bytes: number; hash: string }[];
  downloadHash?: string;
}

/** The worker's side: an HTTP server on the Unix socket, recording what arrived. */
async function gatewayServer(socket: string): Promise<Seen> {
  const seen: Seen = { requests: [] };
  const server: Server = createHttpServer((request, response) => {
    const hash = createHash('sha256');
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    request.on('end', () => {
      const digest = hash.digest('hex');
      seen.requests.push({ method: request.method!, url: request.url!, bytes, hash: digest });
      if (request.url === '/download') {
        // 1 MiB in 16 writes, each waiting for the relay to take it (backpressure end to end).
        const body = randomBytes(megabyte);
        seen.downloadHash = createHash('sha256').update(body).digest('hex');
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        let offset = 0;
        const next = () => {
          while (offset < body.length) {
            const chunk = body.subarray(offset, offset + 65_536);
            offset += chunk.length;
            if (!response.write(chunk)) return void response.once('drain', next);
          }
          response.end();
        };
        next();
      } else {
        response.end(JSON.stringify({ url: request.url, bytes, hash: digest }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  servers.push(server);
  return seen;
}

/** A TCP server on the host's loopback (where the server's API listens), counting connections. */
async function hostLoopbackServer(): Promise<{ port: number; connections: string[] }> {
  const connections: string[] = [];
  const server = createServer((socket) => {
    connections.push(String(socket.remoteAddress));
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, connections };
}

/**
 * Run inside the sandbox by its Node (node:http, not fetch: undici's WebAssembly does not fit the
 * address-space limit): a small request each way, 1 MiB streamed up and down, then connections
 * that must fail. One JSON line per step.
 */
function clientScript(hostPort: number, socket: string): string {
  return `
    const http = require('http'), net = require('net'), crypto = require('crypto'), fs = require('fs');
    const say = (value) => console.log(JSON.stringify(value));
    function request(method, path, write) {
      return new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: ${gatewayPort}, method, path }, (res) => {
          const hash = crypto.createHash('sha256'); let bytes = 0; const chunks = [];
          res.on('data', (chunk) => { bytes += chunk.length; hash.update(chunk); if (chunks.length < 4) chunks.push(chunk); });
          res.on('end', () => resolve({ status: res.statusCode, bytes, hash: hash.digest('hex'), text: Buffer.concat(chunks).toString('utf8', 0, 200) }));
        });
        req.on('error', (error) => resolve({ error: error.code }));
        write(req);
      });
    }
    function connect(host, port) {
      return new Promise((resolve) => {
        const s = net.connect(port, host);
        s.setTimeout(1500, () => { s.destroy(); resolve('TIMEOUT'); });
        s.on('connect', () => { s.destroy(); resolve('CONNECTED'); });
        s.on('error', (error) => resolve(error.code));
      });
    }
    (async () => {
      say({ step: 'small', ...(await request('POST', '/x', (req) => req.end('hello from the sandbox'))) });
      const pattern = ${uploadPattern};
      say({ step: 'upload', ...(await request('PUT', '/upload', (req) => {
        let index = 0;
        const next = () => {
          while (index < ${megabyte}) {
            const chunk = Buffer.alloc(65536); for (let i = 0; i < chunk.length; i++) chunk[i] = pattern(index + i);
            index += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', next);
          }
          req.end();
        };
        next();
      })) });
      say({ step: 'download', ...(await request('GET', '/download', (req) => req.end())) });
      const targets = [['127.0.0.1', ${hostPort}], ['127.0.0.1', ${gatewayPort + 1}], ['127.0.0.1', 80]];
      if (fs.readFileSync('/proc/net/route', 'utf8').includes('tap0')) targets.push(['10.0.2.2', ${hostPort}], ['10.0.2.2', ${gatewayPort}]);
      for (const [host, port] of targets) say({ step: 'connect', target: host + ':' + port, result: await connect(host, port) });
      say({ step: 'socket', visible: fs.existsSync(${JSON.stringify(socket)}) });
    })();`;
}

function steps(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The relay's processes: those of `uid` running Perl outside the sandbox (its command line says so). */
function relaysOf(uid: number): number[] {
  return processesOf([uid]).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/perl\0-e\0');
    } catch {
      return false;
    }
  });
}

function parentOf(pid: number): number {
  return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

async function until(condition: () => boolean, limitMs: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < limitMs; await sleep(20)) if (condition()) return true;
  return condition();
}

describe('a sandbox with a gateway', () => {
  for (const network of [false, true]) {
    test(`reaches the worker's socket at 127.0.0.1:${gatewayPort}, and nothing else (network: ${network})`, { timeout: 30_000 }, async () => {
      const { uid, folder, workspace, socket } = attempt();
      const seen = await gatewayServer(socket);
      const host = await hostLoopbackServer();
      // Through the launcher, as the worker will: it gives the socket to the sandbox's uid.
      const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 }, memoryBytes: 512 * megabyte })(
        ['/usr/bin/node', '-e', clientScript(host.port, socket)],
        { workspace, env: { PATH: '/usr/bin:/bin' }, network, gateway: { port: gatewayPort, socket } },
      );
      expect(statSync(socket).uid).toBe(uid);
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      expect(statSync(folder).mode & 0o777).toBe(0o711);
      const relayCgroups: string[] = [];
      let relayStatus = '';
      let relayNetwork = '';
      const watching = setInterval(() => {
        for (const pid of relaysOf(uid)) {
          try {
            const cgroup = /memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
            if (cgroup !== undefined) relayCgroups.push(cgroup);
            relayStatus = readFileSync(`/proc/${pid}/status`, 'utf8');
            relayNetwork = readlinkSync(`/proc/${pid}/ns/net`);
          } catch {
            // Gone already.
          }
        }
      }, 20);
      const result = await runLaunch(launch);
      clearInterval(watching);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const [small, upload, download, ...rest] = steps(result.stdout);
      // The requests arrived as sent, and their answers came back whole.
      expect(small).toMatchObject({
        step: 'small',
        status: 200,
        text: JSON.stringify({ url: '/x', bytes: 22, hash: createHash('sha256').update('hello from the sandbox').digest('hex') }),
      });
      expect(upload).toMatchObject({ step: 'upload', status: 200 });
      expect(JSON.parse(String(upload!['text']))).toEqual({ url: '/upload', bytes: megabyte, hash: uploadHash });
      expect(download).toMatchObject({ step: 'download', status: 200, bytes: megabyte, hash: seen.downloadHash });
      expect(seen.requests.map((request) => `${request.method} ${request.url} ${request.bytes}`)).toEqual([
        'POST /x 22',
        `PUT /upload ${megabyte}`,
        'GET /download 0',
      ]);
      // Nothing else: not the host's loopback, not another port, not the stack's host address.
      const connects = rest.filter((step) => step['step'] === 'connect');
      expect(connects.map((step) => step['target'])).toEqual([
        `127.0.0.1:${host.port}`,
        `127.0.0.1:${gatewayPort + 1}`,
        '127.0.0.1:80',
        ...(network ? [`10.0.2.2:${host.port}`, `10.0.2.2:${gatewayPort}`] : []),
      ]);
      for (const step of connects) expect(step['result'], String(step['target'])).not.toBe('CONNECTED');
      expect(host.connections).toEqual([]);
      expect(rest.at(-1)).toEqual({ step: 'socket', visible: false });
      // The relay ran in the sandbox's memory cgroup, and is gone with it.
      // (A v1 hierarchy shows an exiting process in "/": a relay caught as it ends reads so, last.)
      const exiting = relayCgroups.indexOf('/');
      const whileRunning = exiting === -1 ? relayCgroups : relayCgroups.slice(0, exiting);
      expect(whileRunning.length).toBeGreaterThan(0);
      expect(relayCgroups.slice(whileRunning.length).every((cgroup) => cgroup === '/')).toBe(true);
      expect(new Set(whileRunning)).toEqual(new Set([`/cairn/${uid}`]));
      // Unprivileged: the sandbox's uid and gid (real, effective, saved, file system), no other
      // group, no capability, no privilege to gain.
      expect(relayStatus).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      expect(relayStatus).toMatch(new RegExp(`^Gid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
      expect(relayStatus).toMatch(/^Groups:\s*$/m);
      expect(relayStatus).toMatch(/^CapEff:\s+0+$/m);
      expect(relayStatus).toMatch(/^CapPrm:\s+0+$/m);
      expect(relayStatus).toMatch(/^NoNewPrivs:\s+1$/m);
      // In the sandbox's network namespace, not the host's.
      expect(relayNetwork).toMatch(/^net:\[\d+\]$/);
      expect(relayNetwork).not.toBe(readlinkSync('/proc/self/ns/net'));
      expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
    });
  }

  test('passes a half-close each way; a server that goes, or a socket that refuses, closes the connection', { timeout: 20_000 }, async () => {
    const { uid, folder, workspace, socket } = attempt();
    // A raw server on the socket: by what it reads, it answers after the client's half-close,
    // half-closes first and waits for the client's last words, or destroys its end.
    const heard: string[] = [];
    const server = createServer({ allowHalfOpen: true }, (connection) => {
      let text = '';
      connection.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text === 'close first\n') connection.end('server done\n');
        if (text === 'destroy\n') connection.destroy();
      });
      connection.on('end', () => {
        heard.push(text);
        if (text.startsWith('answer after end')) connection.end(`answer to ${text.length} bytes\n`);
      });
      connection.on('error', () => heard.push(`error after ${JSON.stringify(text)}`));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    servers.push(server);
    const script = (exchanges: string) => `
      const net = require('net');
      const say = (value) => console.log(JSON.stringify(value));
      function exchange(first, afterServerEnd) {
        return new Promise((resolve) => {
          const started = Date.now();
          const s = net.connect({ host: '127.0.0.1', port: ${gatewayPort}, allowHalfOpen: true });
          let text = '';
          s.on('data', (chunk) => (text += chunk));
          s.on('end', () => { if (afterServerEnd) s.end(afterServerEnd); });
          s.on('error', (error) => (text += '<' + error.code + '>'));
          s.on('close', () => resolve({ text, ms: Date.now() - started }));
          s.write(first);
          if (!afterServerEnd) s.end();
        });
      }
      (async () => { ${exchanges} })();`;
    const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } })(
      [
        '/usr/bin/node',
        '-e',
        script(`
          say({ step: 'client half-closes', ...(await exchange('answer after end: ' + 'x'.repeat(200000))) });
          say({ step: 'server half-closes', ...(await exchange('close first\\n', 'client done\\n')) });
          say({ step: 'server destroys', ...(await exchange('destroy\\n', 'never read\\n')) });`),
      ],
      { workspace, env: { PATH: '/usr/bin:/bin' }, network: false, gateway: { port: gatewayPort, socket } },
    );
    const result = await runLaunch(launch);
    expect(result.stderr).toBe('');
    const [clientHalfCloses, serverHalfCloses, destroyed] = steps(result.stdout);
    expect(clientHalfCloses).toMatchObject({ step: 'client half-closes', text: `answer to ${'answer after end: '.length + 200_000} bytes\n` });
    expect(serverHalfCloses).toMatchObject({ step: 'server half-closes', text: 'server done\n' });
    expect(destroyed).toMatchObject({ step: 'server destroys', text: expect.stringMatching(/^(<ECONNRESET>)?$/) });
    expect(heard).toContain(`answer after end: ${'x'.repeat(200_000)}`);
    expect(heard).toContain('close first\nclient done\n');
    expect(heard.some((entry) => entry.includes('never read'))).toBe(false);

    // No server on the socket's path: each connection is closed at once, nothing else is tried.
    const refused = await runSandboxed(['/usr/bin/node', '-e', script(`say({ step: 'refused', ...(await exchange('anyone?\\n')) });`)], {
      workspace,
      uid,
      gateway: { port: gatewayPort, socket: join(folder, 'nobody.sock') },
    });
    expect(refused.stderr).toBe('');
    const [answer] = steps(refused.stdout);
    // Closed, or reset (the relay closed it with the client's bytes unread): nothing arrives either way.
    expect(answer).toMatchObject({ step: 'refused', text: expect.stringMatching(/^(<ECONNRESET>)?$/) });
    expect(answer!['ms']).toBeLessThan(1_000);
  });

  test('holds at most 256 connections at a time; the next wait until one ends', { timeout: 20_000 }, async () => {
    const { uid, folder, workspace, socket } = attempt();
    let open = 0;
    let most = 0;
    let accepted = 0;
    const server = createServer((connection) => {
      accepted++;
      most = Math.max(most, ++open);
      connection.on('close', () => open--);
      connection.on('error', () => {});
      connection.write('x');
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    servers.push(server);
    chmodSync(folder, 0o711);
    chownSync(workspace, uid, uid);
    chownSync(socket, uid, uid);
    // 300 connections held open (more than the test limits' open files: bubblewrap's command line
    // with its own limits); a connection the server took gets a byte. Once 256 have theirs (and no
    // more for half a second), 50 are closed, and the 44 left get theirs.
    const script = `
      const net = require('net');
      let served = 0;
      const sockets = Array.from({ length: 300 }, () => net.connect(${gatewayPort}, '127.0.0.1').on('error', () => {}).once('data', () => served++));
      const when = (condition, then) => { const timer = setInterval(() => { if (condition()) { clearInterval(timer); then(); } }, 10); };
      when(() => served >= 256, () => setTimeout(() => {
        console.log('SERVED ' + served);
        for (const s of sockets.slice(0, 50)) s.destroy();
        when(() => served === 300, () => { console.log('SERVED ' + served); process.exit(0); });
      }, 500));`;
    const launch = bubblewrapCommand(['/usr/bin/node', '-e', script], {
      workspace,
      uid,
      env: { PATH: '/usr/bin:/bin' },
      network: false,
      limits: { processes: 64, openFiles: 1024 },
      gateway: { port: gatewayPort, socket },
    });
    const result = await runLaunch(launch);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('SERVED 256\nSERVED 300\n');
    expect(most).toBe(256);
    expect(accepted).toBe(300);
  });

  test('a relay that cannot listen: the command does not start, and says why', async () => {
    const { uid, workspace, socket } = attempt();
    await gatewayServer(socket);
    const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } })(['/bin/sh', '-c', 'echo STARTED'], {
      workspace,
      env: { PATH: '/usr/bin:/bin' },
      network: false,
      gateway: { port: gatewayPort, socket },
    });
    // A relay that dies at once (its script replaced), as one that cannot bind or cannot run would.
    const broken = { ...launch, args: launch.args.map((arg) => (arg.includes('cairn relay: socket') ? 'die "cairn relay: broken\\n";' : arg)) };
    const result = await runLaunch(broken);
    expect(result.stdout).not.toContain('STARTED');
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('cairn relay: broken');
    expect(result.stderr).toContain(`cairn: the sandbox's relay did not listen on 127.0.0.1:${gatewayPort}`);
    expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
  });

  test('refuses a socket its uid could not reach, or that is not a socket', async () => {
    const { uid, folder, workspace } = attempt();
    const launcher = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } });
    const context = { workspace, env: { PATH: '/usr/bin:/bin' }, network: false };
    expect(() => launcher(['true'], { ...context, gateway: { port: gatewayPort, socket: join(folder, 'missing.sock') } })).toThrow(/cannot be read \(ENOENT\)/);
    expect(() => launcher(['true'], { ...context, gateway: { port: gatewayPort, socket: workspace } })).toThrow(/is not a Unix socket/);
    expect(() => launcher(['true'], { ...context, gateway: { port: 70_000, socket: join(folder, 'gateway.sock') } })).toThrow(/port 70000/);
    const hidden = join(folder, 'hidden');
    mkdirSync(hidden, { mode: 0o700 });
    await gatewayServer(join(hidden, 'gateway.sock'));
    expect(() => launcher(['true'], { ...context, gateway: { port: gatewayPort, socket: join(hidden, 'gateway.sock') } })).toThrow(/cannot search .*hidden/);
  });
});

describe("a sandbox's relay is gone", () => {
  /** A sandbox with a gateway that sleeps until killed; resolves once its relay runs. */
  async function sleepingSandbox() {
    const { uid, workspace, socket } = attempt();
    await gatewayServer(socket);
    const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } })(['/bin/sh', '-c', 'sleep infinity'], {
      workspace,
      env: { PATH: '/usr/bin:/bin' },
      network: false,
      gateway: { port: gatewayPort, socket },
    });
    let reaper = 0;
    const ended = runLaunch(launch, 20_000, (pid) => (reaper = pid));
    expect(await until(() => relaysOf(uid).length === 1 && processesOf([uid]).length >= 3, 5_000)).toBe(true);
    return { uid, reaper, ended };
  }

  test('when the command exits', async () => {
    const { uid, workspace, socket } = attempt();
    await gatewayServer(socket);
    for (const network of [false, true]) {
      const launch = sandboxLauncher({ limits: testLimits, uids: { first: uid, count: 1 } })(['/bin/sh', '-c', 'exit 3'], {
        workspace,
        env: { PATH: '/usr/bin:/bin' },
        network,
        gateway: { port: gatewayPort, socket },
      });
      expect((await runLaunch(launch)).code, `network: ${network}`).toBe(3);
      expect(await until(() => relaysOf(uid).length === 0, 500), `network: ${network}`).toBe(true);
    }
  });

  test('when its bubblewrap is killed (the reaper kills the relay)', async () => {
    const { uid, ended } = await sleepingSandbox();
    // Bubblewrap outside: the sandbox uid's bubblewrap whose parent is root's (the reaper's), not its own first child.
    const bubblewrap = processesOf([uid]).find(
      (pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/bwrap\0') && statSync(`/proc/${parentOf(pid)}`).uid === 0,
    );
    expect(bubblewrap).toBeDefined();
    process.kill(bubblewrap!, 'SIGKILL');
    const result = await ended;
    expect(result.code).toBe(137);
    expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
  });

  test('when the worker stops the sandbox (SIGTERM to its group)', async () => {
    const { uid, reaper, ended } = await sleepingSandbox();
    process.kill(-reaper, 'SIGTERM');
    expect((await ended).code).toBe(143);
    expect(await until(() => processesOf([uid]).length === 0, 1_000)).toBe(true);
  });

  test('when the host dies (kill -9 of the process that started it)', { timeout: 15_000 }, async () => {
    const { uid, folder, workspace, socket } = attempt();
    await gatewayServer(socket);
    // What the launcher does (this runs bubblewrap's command line itself): the attempt's folder
    // searchable, the workspace and the socket the sandbox uid's.
    chmodSync(folder, 0o711);
    chownSync(workspace, uid, uid);
    chownSync(socket, uid, uid);
    chmodSync(socket, 0o600);
    const { command, args } = bubblewrapCommand(['/bin/sh', '-c', 'sleep infinity'], {
      workspace,
      uid,
      env: { PATH: '/usr/bin:/bin' },
      network: true,
      limits: { processes: 64 },
      gateway: { port: gatewayPort, socket },
    });
    const hostScript = `require('node:child_process').spawn(process.argv[1], JSON.parse(process.argv[2]), { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true }); setInterval(() => {}, 1000);`;
    const host = spawn(process.execPath, ['-e', hostScript, command, JSON.stringify(args)], { stdio: 'ignore' });
    expect(await until(() => relaysOf(uid).length === 1, 5_000)).toBe(true);
    process.kill(host.pid!, 'SIGKILL');
    expect(await until(() => processesOf([uid]).length === 0, 2_000)).toBe(true);
  });
});
