// The README's main command does what it says, from the built CLI as `scripts/demo.sh` runs it:
// `cairn demo` serves a fresh server, runs the sample twice through its API (the pure check reused
// the second time), and verifies the evidence; `cairn verify` then refuses an edited copy, and
// with --online refuses a bundle whose anchor was removed or edited.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvidenceBundleV1 } from '@cairn/core';
import { storedManifestPayload } from '@cairn/audit';
import { afterAll, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const cli = join(repositoryRoot, 'apps', 'server', 'dist', 'cli.js');
const scratch = mkdtempSync(join(tmpdir(), 'cairn-demo-test-'));
// Sandboxes start as their own uids and must pass through to the demo's directories.
chmodSync(scratch, 0o711);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const sandboxed = existsSync('/usr/bin/bwrap') && process.getuid?.() === 0;

function cairn(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ status: error ? Number(error.code ?? 3) : 0, stdout, stderr }),
    );
  });
}

interface Report {
  valid: boolean;
  claim: string;
  checks: { name: string; status: string; detail: string }[];
}

test('cairn demo tells the story: live progress, an approval, patch stats, the reused check, and the verified report last', { timeout: 60_000 }, async () => {
  const demo = await cairn('demo', '--directory', join(scratch, 'text'));
  expect(demo.status, demo.stderr).toBe(0);
  expect(demo.stdout.match(/^run succeeded: 5\/5 items finished, 0 failed$/gm)).toHaveLength(2);
  expect(demo.stdout).toContain('tidy-readme      was awaiting approval: approved by the operator');
  expect(demo.stdout).toMatch(/^ {2}verify {11}succeeded {9}5\/5 done$/m);
  expect(demo.stdout).toMatch(/^ {2}edit-alpha {7}src\/alpha\.ts {5}\| \+1 -0$/m);
  expect(demo.stdout).toContain('verify           no change; it said: ok   src/alpha.ts has the license header | ok   src/beta.ts has the license header');
  expect(demo.stdout).toMatch(/^verify did not run again: its inputs had the same digest, so run r-\S+'s result was reused/m);
  expect(demo.stderr.includes('WITHOUT a sandbox')).toBe(!sandboxed);
  expect(demo.stdout).toMatch(/^dashboard at http:\/\/127\.0\.0\.1:\d+\/dashboard\/ \(while the demo runs; --keep-serving keeps it up after\)$/m);
  // It ends with the verification report: the claim, then every check.
  const tail = demo.stdout.trimEnd().split('\n').slice(-10);
  expect(tail[0]).toBe('valid: true, claim: tamper-detecting, verdict: verified');
  expect(tail.slice(1).map((line) => line.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual([
    'pass entries',
    'pass completeness',
    'pass inclusion',
    'pass checkpoint-signature',
    'pass manifests',
    'pass artifacts',
    'pass anchor',
    'not-checked timestamp',
    'pass candidates',
  ]);
});

test(
  'cairn demo --json ends with one JSON object; cairn verify refuses an edited copy, and --online an anchor removed or edited',
  { timeout: 60_000 },
  async () => {
    const directory = join(scratch, 'json');
    const demo = await cairn('--json', 'demo', '--directory', directory);
    expect(demo.status, demo.stderr).toBe(0);
    // Progress goes to a terminal only: stdout is the one JSON object.
    expect(demo.stdout.trim().split('\n')).toHaveLength(1);
    const result = JSON.parse(demo.stdout.trim().split('\n').at(-1)!) as {
      runId: string;
      bundle: string;
      trustedKeyId: string;
      sandbox: string;
      reusedItem: { itemId: string; from: { runId: string } } | null;
      patches: { itemId: string }[];
      verify: Report;
    };
    expect((result as { dashboard?: string }).dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/$/);
    expect(result).not.toHaveProperty('operatorToken');
    expect(result.verify.claim).toBe('tamper-detecting');
    expect(result.verify.checks.filter((check) => check.status !== 'not-checked').every((check) => check.status === 'pass')).toBe(true);
    expect(result.verify.checks.find((check) => check.name === 'anchor')?.detail).toMatch(/^read live: file:\S+ \(detect\)/);
    expect(result.reusedItem).toMatchObject({ itemId: 'verify', from: { runId: result.runId } });
    expect(result.patches.map((patch) => patch.itemId).sort()).toEqual(['edit-alpha', 'edit-beta', 'rename-gamma', 'tidy-readme']);
    expect(result.sandbox).toBe(sandboxed ? 'bubblewrap' : 'none');
    expect(existsSync(result.bundle)).toBe(true);
    const isolation = JSON.parse(readFileSync(result.bundle, 'utf8')) as EvidenceBundleV1;
    expect(
      new Set(
        isolation.manifests.map(
          ({ envelope }) =>
            (JSON.parse(Buffer.from(storedManifestPayload(envelope), 'base64').toString('utf8')) as { limits: { isolation: string } }).limits.isolation,
        ),
      ),
    ).toEqual(new Set([result.sandbox]));

    // Three reads of the evidence at once: offline (the file alone: everything passes but the
    // anchor, which is not read), an edited copy (the approval turned into a rejection), and online
    // (the anchor holds the checkpoint). Online reads the anchor the verifier names, never the
    // one the bundle's receipt names.
    const anchorOption = ['--anchor', `file:${join(directory, 'cairn-data', 'anchor')}`];
    const edited = join(directory, 'edited.bundle.json');
    const text = readFileSync(result.bundle, 'utf8');
    expect(text).toContain('"action":"item.approved"');
    writeFileSync(edited, text.replace('"action":"item.approved"', '"action":"item.rejected"'));
    const [offline, refused, online] = await Promise.all([
      cairn('--json', 'verify', result.bundle, '--trusted-key', result.trustedKeyId),
      cairn('--json', 'verify', edited, '--trusted-key', result.trustedKeyId),
      cairn('--json', 'verify', result.bundle, '--trusted-key', result.trustedKeyId, '--online', ...anchorOption),
    ]);
    expect([offline.status, (JSON.parse(offline.stdout) as Report).checks.find((check) => check.name === 'anchor')?.status]).toEqual([0, 'not-checked']);
    expect([refused.status, (JSON.parse(refused.stdout) as Report).valid]).toEqual([1, false]);
    expect([online.status, (JSON.parse(online.stdout) as Report).checks.find((check) => check.name === 'anchor')?.status]).toEqual([0, 'pass']);

    // Then the anchored envelope edited, then removed.
    const anchorFolder = join(directory, 'cairn-data', 'anchor', 'cairn%3Aserver');
    const anchorCheck = (JSON.parse(online.stdout) as Report).checks.find((check) => check.name === 'anchor')!;
    const envelopeName = readdirSync(anchorFolder).find((name) => name.endsWith('.dsse') && anchorCheck.detail.endsWith(name));
    expect(envelopeName).toBeDefined();
    const envelope = join(anchorFolder, envelopeName!);
    const original = readFileSync(envelope);
    chmodSync(envelope, 0o644);
    writeFileSync(envelope, Buffer.concat([original, Buffer.from(' ')]));
    const tampered = await cairn('--json', 'verify', result.bundle, '--trusted-key', result.trustedKeyId, '--online', ...anchorOption);
    expect(tampered.status).toBe(1);
    expect((JSON.parse(tampered.stdout) as Report).checks.find((check) => check.name === 'anchor')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no longer matches what was anchored'),
    });
    rmSync(envelope);
    // Without --online nothing but the file is read: the same bundle still verifies.
    const [removed, stillOffline] = await Promise.all([
      cairn('verify', result.bundle, '--trusted-key', result.trustedKeyId, '--online', ...anchorOption),
      cairn('verify', result.bundle, '--trusted-key', result.trustedKeyId),
    ]);
    expect(removed.status).toBe(1);
    expect(removed.stdout).toMatch(/^ {2}fail {8}anchor {15}.*the anchored envelope is gone/m);
    expect(stillOffline.status).toBe(0);
  },
);

test(
  'cairn demo --keep-serving prints the dashboard address and the token to sign in with, and serves the dashboard until Ctrl-C',
  { timeout: 90_000 },
  async () => {
    const env = { ...process.env };
    delete env['NODE_EXTRA_CA_CERTS'];
    const child = spawn(process.execPath, [cli, 'demo', '--directory', join(scratch, 'serving'), '--keep-serving'], { env });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => stdout, { timeout: 60_000, interval: 200 }).toMatch(/serving until Ctrl-C\n$/);
      // The report came first: the demo is over, its server is not.
      expect(stdout).toContain('valid: true, claim: tamper-detecting, verdict: verified');
      const tail = stdout.trimEnd().split('\n').slice(-3);
      const dashboard = /^dashboard at (http:\/\/127\.0\.0\.1:\d+\/dashboard\/)$/.exec(tail[0]!)?.[1];
      const token = /^operator token \(admin; to sign in to the dashboard\): (\S+)$/.exec(tail[1]!)?.[1];
      expect(dashboard).toBeDefined();
      expect(token).toBeDefined();
      const page = await fetch(dashboard!);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toBe(readFileSync(join(repositoryRoot, 'apps', 'server', 'dist', 'dashboard', 'index.html'), 'utf8'));
      // The token signs in: the demo's two runs are there to look at.
      const runs = await fetch(new URL('/v1/runs', dashboard), { headers: { authorization: `Bearer ${token}` } });
      expect(runs.status).toBe(200);
      expect(((await runs.json()) as { runs: unknown[] }).runs).toHaveLength(2);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      await expect(fetch(dashboard!)).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
    }
  },
);

test('cairn demo --keep-serving is refused with --server, whose server serves on by itself', async () => {
  const refused = await cairn('demo', '--server', 'http://127.0.0.1:9', '--keep-serving', '--directory', join(scratch, 'refused'));
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toMatch(/--keep-serving keeps the demo's own server up, but --server http:\/\/127\.0\.0\.1:9 names a running one/);
});

test(
  'cairn --json demo --keep-serving prints its one JSON object when the story ends, with the dashboard and the token, then serves until SIGTERM',
  { timeout: 90_000 },
  async () => {
    const env = { ...process.env };
    delete env['NODE_EXTRA_CA_CERTS'];
    const child = spawn(process.execPath, [cli, '--json', 'demo', '--directory', join(scratch, 'serving-json'), '--keep-serving'], { env });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await expect.poll(() => stdout, { timeout: 60_000, interval: 200 }).toMatch(/\}\n$/);
      expect(stdout.trim().split('\n')).toHaveLength(1);
      const result = JSON.parse(stdout) as { dashboard: string; operatorToken: string; verify: { valid: boolean } };
      expect(result.verify.valid).toBe(true);
      const page = await fetch(result.dashboard);
      expect(page.status).toBe(200);
      const session = await fetch(new URL('/v1/session', result.dashboard), { headers: { authorization: `Bearer ${result.operatorToken}` } });
      expect(session.status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // Nothing more was printed at the stop.
      expect(stdout.trim().split('\n')).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
    }
  },
);
