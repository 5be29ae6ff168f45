// The Restate peer's processes: a restate-server of the bench's own (the npm package's binary) and
// the Node service deployment it invokes (restate-service-child.ts), both in one cpuacct cgroup so
// that the peer's CPU is the server's and the service's together, every thread.
//
// Durability as shipped (restate-server 1.7.12's defaults, none changed here): one node with every
// role, its Bifrost log the replicated loglet at replication 1 on this node's log-server, whose
// RocksDB writes its WAL with fsync (`log-server.rocksdb-disable-wal-fsync = false`) before a
// record is acknowledged; the partition processors' state in RocksDB, rebuilt from that log. An
// invocation Restate accepted, and each journal entry of it, is in the fsynced log before it is
// acted on. The only settings given are where to listen (free loopback ports, TCP only), where to
// keep the data (a temp folder) and `disable-telemetry` (no calls home).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childNodeArgv } from './child-node.ts';
import { CpuCgroup } from './cpu-cgroup.ts';
import { freeLoopbackPort } from './free-loopback-port.ts';
import { stopChild } from './stop-child.ts';

/** A running Restate peer: its ingress and admin addresses; `stop` ends both processes and removes the data. */
export interface RestatePeer {
  readonly ingressUrl: string;
  readonly adminUrl: string;
  /** CPU time charged so far to the restate-server and the service deployment together, in milliseconds. */
  cpuMilliseconds(): number;
  stop(): Promise<void>;
}

/** The restate-server binary of the platform package npm installed beside `@restatedev/restate-server`. */
export function restateServerBinary(): string {
  const serverPackage = createRequire(import.meta.url).resolve('@restatedev/restate-server/package.json');
  const platformPackage = `@restatedev/restate-server-${platform()}-${arch()}`;
  try {
    return createRequire(serverPackage).resolve(`${platformPackage}/bin/restate-server`);
  } catch {
    throw new Error(`${platformPackage} is not installed beside @restatedev/restate-server: run pnpm install on a platform restate-server ships for`);
  }
}

/** Starts the restate-server and the service, registers the service with the server, and waits until its ingress answers. */
export async function startRestatePeer(): Promise<RestatePeer> {
  const cgroup = CpuCgroup.create('restate');
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-restate-'));
  const children: ChildProcess[] = [];
  const killOnExit = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    for (const child of children.reverse()) await stopChild(child);
    cgroup.remove();
    rmSync(directory, { recursive: true, force: true });
  };
  try {
    const [ingressPort, adminPort, fabricPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
    const config = join(directory, 'restate.toml');
    writeFileSync(
      config,
      ['disable-telemetry = true', '[ingress]', `bind-address = "127.0.0.1:${ingressPort}"`, '[admin]', `bind-address = "127.0.0.1:${adminPort}"`, ''].join(
        '\n',
      ),
    );
    const server = spawnIn(
      cgroup,
      [
        restateServerBinary(),
        '--config-file',
        config,
        '--base-dir',
        join(directory, 'data'),
        '--bind-address',
        `127.0.0.1:${fabricPort}`,
        '--listen-mode',
        'tcp',
        '--node-name',
        'bench',
        '--no-logo',
      ],
      { RESTATE_LOG_DISABLE_ANSI_CODES: 'true' },
    );
    children.push(server.child);
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    await waitUntil(
      async () => (await answers(`${adminUrl}/health`)) && (await answers(`${ingressUrl}/restate/health`)),
      server,
      'restate-server did not answer on its admin and ingress ports',
    );

    // Warnings and errors only, as the other peers log: the SDK logs two lines an invocation at its default (info).
    const service = spawnIn(cgroup, childNodeArgv([], 'restate-service-child.ts', []), { RESTATE_LOGGING: 'WARN' });
    children.push(service.child);
    const port = await service.firstLine.then((line) => (JSON.parse(line) as { port: number }).port);
    const registered = await fetch(`${adminUrl}/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ uri: `http://127.0.0.1:${port}` }),
    });
    if (!registered.ok) throw new Error(`restate-server refused the service deployment (${registered.status}): ${await registered.text()}`);
    // The ingress learns of a new deployment a moment after the admin API answered.
    await waitUntil(
      async () => (await fetch(`${ingressUrl}/item/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '0' })).ok,
      server,
      "restate-server's ingress did not route to the registered service",
    );
    return { ingressUrl, adminUrl, cpuMilliseconds: () => cgroup.usageMs(), stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}

interface Spawned {
  readonly child: ChildProcess;
  /** The process's first line on stdout. */
  readonly firstLine: Promise<string>;
  /** The last of what it wrote to stdout and stderr, for an error message. */
  output(): string;
}

/** Spawns `argv` inside `cgroup` with `env` added, keeping the tail of its output and draining its pipes. */
function spawnIn(cgroup: CpuCgroup, argv: readonly string[], env: Record<string, string>): Spawned {
  const [program, ...args] = [...cgroup.launcher(), ...argv];
  const child = spawn(program!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  let stdout = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4_000));
  const firstLine = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      stdout += chunk.toString('utf8');
      if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
    });
    child.once('exit', (code, signal) => reject(new Error(`${argv[0]} exited (${signal ?? code}); it said: ${output.slice(-1_000)}`)));
    child.once('error', reject);
  });
  firstLine.catch(() => {});
  child.stderr!.on('data', keep);
  return { child, firstLine, output: () => output };
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

/** Polls `ready` every 50 ms for 30 s; fails early, with the server's words, should the server exit. */
async function waitUntil(ready: () => Promise<boolean>, server: Spawned, failure: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (server.child.exitCode !== null || server.child.signalCode !== null)
      throw new Error(`${failure}: it exited (${server.child.signalCode ?? server.child.exitCode}); it said: ${server.output().slice(-1_000)}`);
    if (await ready().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${failure} within 30 s; it said: ${server.output().slice(-1_000)}`);
}
