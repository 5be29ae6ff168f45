// A tracefs instance given back is kept for the next attempt: real tracefs, real refused writes on
// a full tmpfs (root only). What one attempt recorded must never be counted for the next.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { SpaceRefusals } from './space-refusals.ts';

let folder: string;
let full: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'cairn-trace-instance-'));
  full = join(folder, 'full');
  mkdirSync(full);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'cairn-test-full', full]);
  // dd ends on ENOSPC: the tmpfs is full from now on.
  execFileSync('/bin/sh', ['-c', `dd if=/dev/zero of=${join(full, 'filler')} bs=4k 2>/dev/null || true`]);
});

afterAll(() => {
  execFileSync('umount', [full]);
  rmSync(folder, { recursive: true, force: true });
});

/** A process that has itself followed through `pidFile` (when given), then tries to write into the full tmpfs `times` times. */
function refusedWrites(pidFile: string | undefined, times: number): Promise<void> {
  const follow = pidFile === undefined ? '' : `echo $$ >> '${pidFile}'; `;
  const writes = Array.from({ length: times }, (_, index) => `echo x > '${join(full, `file-${index}`)}'`).join('; ');
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `${follow}${writes}; exit 0`], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve());
  });
}

test('an instance given back is kept, emptied: the next user counts only its own refusals', { timeout: 30_000 }, async () => {
  const first = await SpaceRefusals.open(`first-${Date.now()}`);
  expect(first, 'tracefs is needed (root)').toBeDefined();
  await refusedWrites(first!.pidFile, 3);
  expect(await first!.count()).toBeGreaterThanOrEqual(3);
  const instance = dirname(first!.pidFile);
  await first!.close();
  // Emptied as it was given back: it follows pid 0 alone, and holds no event.
  expect(readFileSync(join(instance, 'set_event_pid'), 'utf8').trim()).toBe('0');
  expect(
    readFileSync(join(instance, 'trace'), 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#')),
  ).toEqual([]);

  const second = await SpaceRefusals.open(`second-${Date.now()}`);
  expect(dirname(second!.pidFile)).toBe(instance);
  expect(await second!.count()).toBe(0);
  // A process nobody had followed is not counted; one the new user has followed is.
  await refusedWrites(undefined, 2);
  expect(await second!.count()).toBe(0);
  await refusedWrites(second!.pidFile, 1);
  expect(await second!.count()).toBe(1);

  // Instances in use are never shared, however many are opened at once.
  const third = await SpaceRefusals.open(`third-${Date.now()}`);
  const [fourth, fifth] = await Promise.all([SpaceRefusals.open(`fourth-${Date.now()}`), SpaceRefusals.open(`fifth-${Date.now()}`)]);
  expect(new Set([second, third, fourth, fifth].map((refusals) => dirname(refusals!.pidFile))).size).toBe(4);
  await Promise.all([second, third, fourth, fifth].map((refusals) => refusals!.close()));
});

test("closing a user again, after its instance went to the next one, leaves the next one's alone", { timeout: 30_000 }, async () => {
  // What an attempt does: its counts read and closed, later closed again as its volumes are unmounted.
  const first = await SpaceRefusals.open(`again-first-${Date.now()}`);
  await first!.close();
  const second = await SpaceRefusals.open(`again-second-${Date.now()}`);
  expect(second!.pidFile).toBe(first!.pidFile);
  await refusedWrites(second!.pidFile, 2);
  await first!.close();
  // Still followed and counted for the second user: neither emptied nor given to a third.
  expect(await second!.count()).toBe(2);
  const third = await SpaceRefusals.open(`again-third-${Date.now()}`);
  expect(third!.pidFile).not.toBe(second!.pidFile);
  await refusedWrites(second!.pidFile, 1);
  expect(await second!.count()).toBe(3);
  expect(await third!.count()).toBe(0);
  await Promise.all([second!.close(), third!.close()]);
});
