// scripts/setup.sh (and scripts/postgres.sh) install Debian packages through apt_get
// (scripts/apt-get-waiting.sh), which waits for another apt to finish, bounded, and says so, instead
// of failing at once with "Could not get lock /var/lib/dpkg/lock-frontend". Checked with a stand-in
// apt-get on PATH that refuses with apt's own words while "another apt" holds the lock.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, test } from 'vitest';
import { repositoryRoot } from './support/workspace.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** Runs `apt_get ARGS` as the scripts do, with an apt-get that is refused the lock `refusals` times first. */
async function aptGet(refusals: number, env: Record<string, string> = {}): Promise<{ status: number; stderr: string; calls: string[] }> {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-apt-lock-'));
  folders.push(folder);
  const fake = join(folder, 'apt-get');
  // apt 2.6's words when dpkg's frontend lock is held (the lists lock of `update` reads the same).
  writeFileSync(
    fake,
    `#!/bin/bash
echo "$*" >> "${folder}/calls"
count=$(wc -l < "${folder}/calls")
if [ "$count" -le ${refusals} ]; then
  echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
  echo "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?" >&2
  exit 100
fi
`,
  );
  chmodSync(fake, 0o755);
  const script = `log() { printf '[setup] %s\\n' "$*" >&2; }; source "${repositoryRoot}/scripts/apt-get-waiting.sh"; apt_get update -qq`;
  const outcome = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], {
    env: { PATH: `${folder}:/usr/bin:/bin`, APT_LOCK_POLL_SECONDS: '0.05', ...env },
  }).then(
    ({ stderr }) => ({ status: 0, stderr }),
    (error: { code: number; stderr: string }) => ({ status: error.code, stderr: error.stderr }),
  );
  return { ...outcome, calls: readFileSync(join(folder, 'calls'), 'utf8').trim().split('\n') };
}

test('apt_get waits for another apt to let go of its lock, tells the reader once, and passes DPkg::Lock::Timeout=300', async () => {
  const { status, stderr, calls } = await aptGet(3);
  expect(status, stderr).toBe(0);
  expect(calls).toHaveLength(4);
  for (const call of calls) expect(call).toBe('-o DPkg::Lock::Timeout=300 update -qq');
  const said = stderr.split('\n').filter((line) => line.includes('waiting for it to finish'));
  expect(said).toEqual([
    '[setup] another apt is running (Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)): waiting for it to finish, up to 300 s',
  ]);
});

test('apt_get gives up after its bound, saying which lock was held and what to do', async () => {
  const { status, stderr } = await aptGet(1_000, { APT_LOCK_SECONDS: '1' });
  expect(status).toBe(100);
  expect(stderr).toContain('another apt still holds its lock after 1 s (Could not get lock /var/lib/dpkg/lock-frontend');
  expect(stderr).toContain('then run this script again');
});

test("apt_get fails at once, with apt-get's own output, on an error that is not a held lock", async () => {
  const folder = mkdtempSync(join(tmpdir(), 'cairn-apt-lock-'));
  folders.push(folder);
  writeFileSync(join(folder, 'apt-get'), '#!/bin/bash\necho "E: Unable to locate package no-such-package" >&2\nexit 100\n');
  chmodSync(join(folder, 'apt-get'), 0o755);
  const script = `log() { :; }; source "${repositoryRoot}/scripts/apt-get-waiting.sh"; apt_get install -y no-such-package`;
  const error = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { env: { PATH: `${folder}:/usr/bin:/bin` } }).catch(
    (caught: { code: number; stderr: string }) => caught,
  );
  expect((error as { code: number }).code).toBe(100);
  expect((error as { stderr: string }).stderr).toContain('Unable to locate package no-such-package');
});

test.each(['scripts/setup.sh', 'scripts/postgres.sh'])('%s runs apt-get only through apt_get', (script) => {
  const text = readFileSync(join(repositoryRoot, script), 'utf8');
  const direct = text.split('\n').filter((line) => /^\s*(?:[A-Z_]+=\S+\s+)*apt-get\s/.test(line));
  expect(direct).toEqual([]);
  expect(text).toMatch(/^\s*apt_get install -y/m);
});
