import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDebianProgram } from './debian-program.ts';
import { acceptsConnections, freeLoopbackPort } from './free-loopback-port.ts';
import { stopChild } from './stop-child.ts';

/** A Squid of the bench's own on loopback; `stop` ends it and removes its folder. */
export interface SquidProxy {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Starts Debian's Squid (installed if missing) as a forward proxy on a free loopback port, in the
 * foreground: it admits every request (CONNECT to any port included), caches nothing, logs no
 * access, and resolves `hosts` (name to address) from a hosts file of its own before any DNS.
 */
export async function startSquidProxy(hosts: Readonly<Record<string, string>>): Promise<SquidProxy> {
  const program = ensureDebianProgram('squid', 'squid');
  const port = await freeLoopbackPort();
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-squid-'));
  // Squid drops to its own user (proxy) after start: the folder must stay readable to it.
  chmodSync(directory, 0o755);
  writeFileSync(
    join(directory, 'hosts'),
    Object.entries(hosts)
      .map(([name, address]) => `${address} ${name}\n`)
      .join(''),
  );
  writeFileSync(
    join(directory, 'squid.conf'),
    [
      `http_port 127.0.0.1:${port}`,
      'http_access allow all',
      'cache deny all',
      'access_log none',
      `cache_log ${join(directory, 'cache.log')}`,
      'pid_filename none',
      'pinger_enable off',
      `hosts_file ${join(directory, 'hosts')}`,
      `coredump_dir ${directory}`,
      'shutdown_lifetime 0 seconds',
      '',
    ].join('\n'),
  );
  const child = spawn(program, ['-N', '-f', join(directory, 'squid.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => void (output = (output + chunk.toString('utf8')).slice(-2000)));
  const killOnExit = () => {
    child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    await stopChild(child);
    rmSync(directory, { recursive: true, force: true });
  };
  for (let waited = 0; !(await acceptsConnections(port)); waited += 100) {
    if (child.exitCode !== null || waited > 10_000) {
      await stop();
      throw new Error(`squid did not accept connections on 127.0.0.1:${port}; it said: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { port, stop };
}
