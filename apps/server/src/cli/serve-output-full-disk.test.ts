// `cairn serve` (a real child process) with its output on a full disk, as `cairn serve > server.log
// 2>&1` on a full file system: it stays up and serves, drops and counts the log lines it cannot
// write (/readyz says ready and reports them, /metrics counts them), and once there is room logs
// again, saying what was lost, every line whole. Standard output alone and standard error alone too.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { initServer } from './init-server.ts';

const disk = useSmallFileSystem(2);
const cli = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

interface Serving {
  readonly child: ChildProcess;
  readonly base: string;
  readonly token: string;
  readonly logFile: string;
  /** What reached the piped stream (the one not on the full disk). */
  piped(): string;
}

/**
 * `cairn serve` from source, its data directory on the ordinary disk and `onDisk` of its output
 * (`stdout`, `stderr` or both, into one file as `> server.log 2>&1` does) on the small one; with
 * `json`, `--json serve` (the log on standard error, the address on standard output).
 */
async function serve(onDisk: readonly ('stdout' | 'stderr')[], options: { json?: boolean; fullFirst?: boolean } = {}): Promise<Serving> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-serve-full-disk-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const { operatorToken } = await initServer(directory);
  const logFile = join(disk.path, 'server.log');
  const descriptor = openSync(logFile, 'a');
  cleanups.push(() => rmSync(logFile, { force: true }));
  if (options.fullFirst) fillDisk();
  const env: NodeJS.ProcessEnv = { ...process.env, CAIRN_PORT: '0', CAIRN_SANDBOX: 'none' };
  delete env['NODE_EXTRA_CA_CERTS'];
  const stream = (name: 'stdout' | 'stderr') => (onDisk.includes(name) ? descriptor : 'pipe');
  const child = spawn(process.execPath, ['--conditions=@cairn/source', cli, ...(options.json ? ['--json'] : []), 'serve'], {
    cwd: directory,
    env,
    stdio: ['ignore', stream('stdout'), stream('stderr')],
  });
  closeSync(descriptor);
  cleanups.push(() => child.kill('SIGKILL'));
  let piped = '';
  child.stdout?.on('data', (chunk: Buffer) => (piped += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (piped += chunk.toString()));
  const announced = () =>
    (options.json ? /"listening":"(http:\/\/[^"]+)"/ : /cairn serving (http:\/\/\S+)/).exec(
      onDisk.includes('stdout') && !options.json ? readFileSync(logFile, 'utf8') : piped,
    );
  for (let wait = 0; wait < 600 && !announced(); wait++) {
    if (child.exitCode !== null) throw new Error(`cairn serve exited with ${child.exitCode} before serving: ${piped}`);
    await sleep(25);
  }
  const base = announced()?.[1];
  if (base === undefined) throw new Error(`cairn serve never said where it serves: ${piped}`);
  return { child, base, token: operatorToken, logFile, piped: () => piped };
}

/** Fills the small disk to its last byte; returns what frees it again. */
function fillDisk(): () => void {
  const filler = join(disk.path, 'filler');
  disk.fill(filler);
  const free = () => rmSync(filler, { force: true });
  cleanups.push(free);
  return free;
}

/** The lines of the log file (but the announcement) as JSON records; `undefined` for a line that is not whole. */
function logRecords(file: string): (Record<string, unknown> | undefined)[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('cairn serving'))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    });
}

interface Readiness {
  ready: boolean;
  logging?: { ok: boolean; droppedLines: number; since?: string; reason?: string };
}

async function readiness(base: string): Promise<Readiness> {
  const answer = await fetch(`${base}/readyz`);
  expect(answer.status).toBe(200);
  return (await answer.json()) as Readiness;
}

/** Requests (each logged) until the log refuses a line, as /readyz reports it. */
async function logUntilRefused(base: string): Promise<Readiness> {
  for (let request = 0; request < 200; request++) {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await readiness(base);
    if (ready.logging?.ok === false) return ready;
  }
  return readiness(base);
}

/**
 * The disk is full under the server's log: it serves (health, a submit), reports the dropped lines
 * on /readyz (still ready) and /metrics; freed, it logs again, says what it lost, whole lines only.
 */
async function servesThroughAFullDisk(serving: Serving, free: () => void): Promise<void> {
  const { base, token, child } = serving;
  const refused = await logUntilRefused(base);
  expect(refused).toMatchObject({ ready: true, logging: { ok: false, droppedLines: expect.any(Number), reason: expect.stringMatching(/^ENOSPC/) } });
  expect(Date.parse(refused.logging!.since!)).not.toBeNaN();

  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  const submitted = await fetch(`${base}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: 1, name: 'log-full', items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] } }] }),
  });
  expect(submitted.status).toBe(201);
  const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const dropped = Number(/^cairn_log_lines_dropped_total (\d+)$/m.exec(metrics)?.[1]);
  expect(dropped).toBeGreaterThanOrEqual(refused.logging!.droppedLines);
  expect(dropped).toBeGreaterThan(0);
  expect(metrics).toMatch(/^cairn_log_sink_failing 1$/m);
  expect(child.exitCode).toBeNull();

  free();
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
  // A request's line is written once it is answered: the next request sees whether it went through.
  let recovered = await readiness(base);
  // Looked at for up to 10 s (the server, loaded, may take more than a second to write again).
  for (let wait = 0; wait < 500 && recovered.logging?.ok !== true; wait++, await sleep(20)) recovered = await readiness(base);
  expect(recovered.logging).toEqual({ ok: true, droppedLines: expect.any(Number) });
  expect(recovered.logging!.droppedLines).toBeGreaterThanOrEqual(dropped);

  // Logged again: the lines it lost are told, and the line the disk cut short ends where it was cut.
  // A request is logged once answered, so its line may come a moment after its answer.
  let parsed = logRecords(serving.logFile);
  let told = -1;
  for (let wait = 0; wait < 500; wait++, await sleep(20)) {
    parsed = logRecords(serving.logFile);
    told = parsed.findIndex((record) => record?.['msg'] === 'log lines were dropped while the log could not be written');
    if (told >= 0 && parsed.slice(told).some((record) => record?.['route'] === '/readyz')) break;
  }
  expect(told).toBeGreaterThan(-1);
  expect(parsed[told]).toMatchObject({ level: 40, since: refused.logging!.since, reason: expect.stringMatching(/^ENOSPC/), droppedLines: expect.any(Number) });
  expect(parsed.slice(told).every((record) => record !== undefined)).toBe(true);
  expect(parsed.slice(told).some((record) => record?.['route'] === '/readyz')).toBe(true);
  // At most one line was cut, by the disk filling mid-line.
  expect(parsed.filter((record) => record === undefined).length).toBeLessThanOrEqual(1);

  child.kill('SIGTERM');
  const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', resolve)));
  expect(code).toBe(0);
}

test(
  'with standard output and error in one file on a full disk (> server.log 2>&1), the server stays up and says so on /readyz and /metrics',
  { timeout: 30_000 },
  async () => {
    const serving = await serve(['stdout', 'stderr']);
    await servesThroughAFullDisk(serving, fillDisk());
  },
);

test('with standard output alone on a full disk, the server stays up, and standard error stays quiet', { timeout: 30_000 }, async () => {
  const serving = await serve(['stdout']);
  await servesThroughAFullDisk(serving, fillDisk());
  expect(serving.piped()).toBe('');
});

test(
  'with standard error (the log of --json serve) on a disk full before it starts, the server starts, answers its address on standard output, and says so on /readyz',
  { timeout: 30_000 },
  async () => {
    const serving = await serve(['stderr'], { json: true, fullFirst: true });
    // Its start was logged (the unsandboxed executor's warning) and dropped at once.
    expect((await readiness(serving.base)).logging).toMatchObject({ ok: false, droppedLines: expect.any(Number) });
    expect(JSON.parse(serving.piped())).toEqual({ listening: serving.base, dashboard: `${serving.base}/dashboard/` });
    await servesThroughAFullDisk(serving, () => unlinkSync(join(disk.path, 'filler')));
  },
);
