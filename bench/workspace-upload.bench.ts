// A 1 GiB workspace uploaded to a real `cairn serve` by the client in a process of its own: the
// peak resident memory of each (goal: at most 200 MiB, whatever the workspace's size: the snapshot
// is written to a temporary file and streamed, and the server streams it into storage), the time
// of the upload, and the time of submitting the unchanged workspace again (the snapshot and its
// hash only: the server says it holds the digest, and nothing is sent). First, the client's CPU of
// re-submitting a 38,000-file workspace unchanged and with one file changed (workspace-resubmit.ts).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { initServer } from '@cairn/server';
import { parse, stringify } from 'yaml';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';
import { workspaceResubmitRows } from './workspace-resubmit.ts';

const mebibyte = 1024 * 1024;
const builtCli = join(dirname(fileURLToPath(import.meta.url)), '..', 'apps', 'server', 'dist', 'cli.js');

interface UploadReport {
  readonly digest: string;
  readonly entries: number;
  readonly milliseconds: number;
  readonly peakBytes: number;
}

/** Eight files of 128 MiB (incompressible) and a hundred small ones. */
function gibibyteWorkspace(folder: string): void {
  const block = randomBytes(mebibyte);
  for (let file = 0; file < 8; file += 1) {
    const descriptor = openSync(join(folder, `large-${file}.bin`), 'w');
    for (let index = 0; index < 128; index += 1) {
      block[0] = file;
      block[1] = index;
      writeSync(descriptor, block);
    }
    closeSync(descriptor);
  }
  for (let file = 0; file < 100; file += 1) writeFileSync(join(folder, `small-${file}.txt`), `small file ${file}\n`);
}

/** `cairn serve` in `directory` on a loopback port of its own; resolves its address once it listens. */
function serve(directory: string): Promise<{ base: string; pid: number; stop: () => void }> {
  const sandbox = process.getuid?.() === 0 ? {} : { CAIRN_SANDBOX: 'none' };
  const server = spawn(process.execPath, [builtCli, '--json', 'serve'], {
    cwd: directory,
    env: { ...process.env, ...sandbox, CAIRN_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    server.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve({ base: (JSON.parse(line) as { listening: string }).listening, pid: server.pid!, stop: () => void server.kill('SIGKILL') });
    });
    server.on('exit', (code) => reject(new Error(`cairn serve exited (${code}) before listening: ${stderr}`)));
  });
}

function peakOf(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

async function upload(base: string, token: string, workspace: string): Promise<UploadReport> {
  const [command, ...args] = childNodeArgv([], '../apps/server/src/cli/upload-workspace-child.test-support.ts', [base, token, workspace]);
  const { stdout } = await promisify(execFile)(command!, args, { maxBuffer: mebibyte });
  return lastJsonLine<UploadReport>(stdout);
}

export default async function workspaceUploadBench({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const resubmit = await workspaceResubmitRows({ log });
  const workspace = mkdtempSync(join(tmpdir(), 'cairn-bench-workspace-'));
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-upload-server-'));
  // Passable, as `cairn init` asks of a server folder: the sandboxes' user must reach its work folder.
  chmodSync(directory, 0o711);
  let stop = () => {};
  try {
    log('  writing a 1 GiB workspace ...');
    gibibyteWorkspace(workspace);
    const { configFile, operatorToken } = await initServer(directory);
    const config = parse(readFileSync(configFile, 'utf8')) as { server: Record<string, unknown> };
    writeFileSync(configFile, stringify({ ...config, server: { ...config.server, uploadLimitMiB: 2048 } }));
    const server = await serve(directory);
    stop = server.stop;
    const idle = peakOf(server.pid);
    log('  uploading it ...');
    const first = await upload(server.base, operatorToken, workspace);
    const serverPeak = peakOf(server.pid);
    log('  submitting it again, unchanged ...');
    const again = await upload(server.base, operatorToken, workspace);
    if (again.digest !== first.digest) throw new Error(`the unchanged workspace snapshotted as ${again.digest}, not ${first.digest}`);
    return [
      ...resubmit,
      atMost('workspace-upload.1gib.client-peak-rss', Math.round(first.peakBytes / mebibyte), 'MiB', 200),
      atMost('workspace-upload.1gib.server-peak-rss', Math.round(serverPeak / mebibyte), 'MiB', 200),
      recorded('workspace-upload.server-idle-rss', Math.round(idle / mebibyte), 'MiB'),
      recorded('workspace-upload.1gib.upload-ms', Math.round(first.milliseconds), 'ms'),
      recorded('workspace-upload.1gib.unchanged-again-ms', Math.round(again.milliseconds), 'ms'),
      atMost('workspace-upload.1gib.unchanged-again-client-peak-rss', Math.round(again.peakBytes / mebibyte), 'MiB', 200),
    ];
  } finally {
    stop();
    rmSync(workspace, { recursive: true, force: true });
    rmSync(directory, { recursive: true, force: true });
  }
}
