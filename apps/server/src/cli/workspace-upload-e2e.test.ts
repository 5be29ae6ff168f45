// A large workspace goes from a client to `cairn serve` without either holding it: both processes'
// peak resident memory stays under 200 MiB (the client) and 232 MiB (the server) for a 300 MiB workspace, and submitting it again
// uploads nothing (the client asks the server for the digest first).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

const { initialised, serve, cleanups } = useBuiltServer();
const child = join(dirname(fileURLToPath(import.meta.url)), 'upload-workspace-child.test-support.ts');
const mebibyte = 1024 * 1024;

interface ChildReport {
  readonly digest: string;
  readonly entries: number;
  readonly milliseconds: number;
  readonly peakBytes: number;
}

/** A folder of three 100 MiB files (incompressible, not that it matters: nothing is compressed) and a small one. */
function largeWorkspace(): string {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-large-workspace-'));
  cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
  const block = randomBytes(mebibyte);
  for (const name of ['one.bin', 'two.bin', 'three.bin']) {
    const descriptor = openSync(join(folder, name), 'w');
    for (let index = 0; index < 100; index += 1) {
      block[0] = index;
      writeSync(descriptor, block);
    }
    closeSync(descriptor);
  }
  writeFileSync(join(folder, 'README.md'), 'a large workspace\n');
  return folder;
}

function peakOf(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
}

/** How many `POST /v1/blobs` the server has answered 201, from its own metrics. */
async function uploadsAnswered(base: string, token: string): Promise<number> {
  const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  const line = metrics
    .split('\n')
    .find((text) => text.startsWith('cairn_http_request_duration_seconds_count{') && text.includes('route="/v1/blobs"') && text.includes('method="POST"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

test(
  'a 300 MiB workspace is uploaded with the client under 200 MiB and the server under 232 MiB of peak memory; an unchanged one is not uploaded again',
  // Hashing, packing and streaming 300 MiB twice: minutes on a loaded machine. It bounds memory and
  // counts uploads; nothing is timed, so the limit only ends a hung upload.
  { timeout: 600_000 },
  async () => {
    const workspace = largeWorkspace();
    const { directory, token } = await initialised();
    const configFile = join(directory, 'cairn.config.yaml');
    const config = parse(readFileSync(configFile, 'utf8')) as { server: Record<string, unknown> };
    writeFileSync(configFile, stringify({ ...config, server: { ...config.server, uploadLimitMiB: 512 } }));
    const { base, server } = await serve(directory);
    const upload = async (): Promise<ChildReport> => {
      const { stdout } = await promisify(execFile)(process.execPath, [child, base, token, workspace], { maxBuffer: mebibyte });
      return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
    };

    const first = await upload();
    expect(first.entries).toBe(4);
    expect(await uploadsAnswered(base, token)).toBe(1);
    const stored = await fetch(`${base}/v1/blobs/${first.digest}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    expect(stored.status).toBe(200);
    expect(Number(stored.headers.get('content-length'))).toBeGreaterThan(300 * mebibyte);
    expect(first.peakBytes, 'the client process, peak resident memory').toBeLessThan(200 * mebibyte);
    // The idle server was ~115 MiB; V8 leaves up to ~64 MiB of freed socket buffers for its next
    // collection. Since the server took in sign-in, triggers and provenance (2026-11-27) its peak
    // here was 211-212 MiB in two fresh-clone runs (and under 200 MiB on a quiet machine): still far
    // below the 300 MiB it streams, which is what this bounds.
    expect(peakOf(server.pid!), 'the server process, peak resident memory').toBeLessThan(232 * mebibyte);

    const again = await upload();
    expect(again.digest).toBe(first.digest);
    expect(await uploadsAnswered(base, token), 'uploads after submitting the unchanged workspace again').toBe(1);
  },
);
