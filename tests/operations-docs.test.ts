// The operations guides' shell blocks run as written, in order, as the root operator they are
// written for (S3's against the test radosgw, scripts/radosgw.sh, as the page offers it): each in a private mount namespace whose /srv and /var/backups are folders of this
// test (so the machine's own are never touched), with the checkout's `cairn` on PATH. A block that
// ends by serving in the foreground is stopped with Ctrl-C (SIGINT) once it listens.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deleteTestBucket, radosgwClient, radosgwConnection, radosgwEnvironment } from '@cairn/s3/testing';
import { afterEach, expect, test } from 'vitest';
import { freePort } from './support/free-port.ts';
import { repositoryRoot } from './support/workspace.ts';

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function shellBlocks(page: string): string[] {
  const text = readFileSync(join(repositoryRoot, page), 'utf8');
  return [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((match) => match[1]!);
}

/** A fresh /srv and /var/backups for one page, kept across its blocks. */
async function machine(): Promise<{ srv: string; backups: string; start: string; port: number }> {
  const root = mkdtempSync(join(tmpdir(), 'cairn-operations-'));
  roots.push(root);
  chmodSync(root, 0o711);
  const folders = { srv: join(root, 'srv'), backups: join(root, 'backups'), start: join(root, 'start') };
  for (const folder of Object.values(folders)) mkdirSync(folder, { mode: 0o755 });
  return { ...folders, port: await freePort() };
}

/**
 * Runs one block (bash -euo pipefail) where the page says the reader is, and returns what it
 * printed; `environment` adds what the page says the reader has set.
 */
function runBlock(
  block: string,
  cwd: string,
  folders: { srv: string; backups: string; port: number },
  environment: Record<string, string> = {},
): Promise<{ status: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = {
    HOME: folders.backups,
    LANG: 'C.UTF-8',
    CAIRN_PORT: String(folders.port),
    PATH: [join(repositoryRoot, '.tools', 'bin'), dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
    ...environment,
  };
  const mounts = `mount --bind ${folders.srv} /srv && mount --bind ${folders.backups} /var/backups && cd ${cwd} && exec bash -euo pipefail -c "$0"`;
  const shell = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', mounts, block], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let interrupted = false;
  const stopped = new Promise<{ status: number | null; output: string }>((resolve) =>
    shell.on('close', (status, signal) => resolve({ status, output: output + (signal ? `\n(killed by ${signal})` : '') })),
  );
  const read = (chunk: Buffer) => {
    output += chunk.toString();
    // The server a block leaves serving in the foreground: stopped as its operator would, with
    // one Ctrl-C (SIGINT to the foreground group: bash waits for the server to stop, then goes on).
    if (!interrupted && /cairn serving /.test(output)) {
      interrupted = true;
      process.kill(-shell.pid!, 'SIGINT');
    }
  };
  shell.stdout.on('data', read);
  shell.stderr.on('data', read);
  return stopped;
}

test('docs/operations/configuration.md: init, doctor and serve, then tokens, run as written', { timeout: 120_000 }, async () => {
  const folders = await machine();
  const [setUp, tokens] = shellBlocks('docs/operations/configuration.md');
  const first = await runBlock(setUp!, folders.start, folders);
  expect(first.status, first.output).toBe(0);
  expect(first.output).toContain(`cairn serving http://127.0.0.1:${folders.port}`);
  const second = await runBlock(tokens!, join(folders.srv, 'cairn'), folders);
  expect(second.status, second.output).toBe(0);
  expect(second.output).toMatch(/token \S+ revoked/);
  const listed = JSON.parse(readFileSync(join(folders.srv, 'cairn', 'cairn-data', 'keys', 'tokens.json'), 'utf8')) as unknown;
  expect(JSON.stringify(listed)).toContain('"name":"temporary"');
});

test('docs/operations/backup-and-restore.md: backup, restore, doctor and serve the copy, as written, from a server folder', { timeout: 120_000 }, async () => {
  const folders = await machine();
  // A server that has served (its database exists), in the folder the reader is in.
  const init = await runBlock('cairn init . && cairn serve', folders.start, folders);
  expect(init.status, init.output).toBe(0);
  const [walkthrough] = shellBlocks('docs/operations/backup-and-restore.md');
  const result = await runBlock(walkthrough!, folders.start, folders);
  expect(result.status, result.output).toBe(0);
  expect(result.output).toMatch(/backed up \d+ files/);
  expect(result.output).toContain(`cairn serving http://127.0.0.1:${folders.port}`);
  expect(readFileSync(join(folders.srv, 'cairn', 'cairn.config.yaml'), 'utf8')).toContain('dataDirectory: ./cairn-data');
});

test('docs/operations/s3.md: the radosgw buckets made as written, Object Lock on the anchor bucket', { timeout: 60_000 }, async () => {
  const folders = await machine();
  const [radosgwBuckets] = shellBlocks('docs/operations/s3.md');
  // What the page asks the reader to have set: the user's keys and the server's address.
  const environment = { ...radosgwEnvironment(), AWS_ENDPOINT_URL: radosgwConnection().endpoint };
  const client = radosgwClient();
  const buckets = ['acme-cairn', 'acme-cairn-anchor'];
  try {
    const result = await runBlock(radosgwBuckets!, folders.start, folders, environment);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('<ObjectLockEnabled>Enabled</ObjectLockEnabled>');
    // Both buckets exist (deleting a missing one fails), and the shared test server keeps none of them.
    for (const bucket of buckets.splice(0)) await deleteTestBucket(client, bucket);
  } finally {
    // After a failure, whichever of them was made.
    await Promise.allSettled(buckets.map((bucket) => deleteTestBucket(client, bucket)));
    client.destroy();
  }
});
