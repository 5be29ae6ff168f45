// The file store is shared by processes, not only by stores in one process: the running server
// and `cairn token`, or two CLIs, change one tokens.json. These tests run real Node processes
// against one file, as they run in use; token-store.test.ts holds the promises both stores keep.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { withFileLock } from '../../store/sqlite/file-lock.ts';
import { holdFileLockInAnotherProcess, testDirectory } from '../../store/sqlite/file-lock.test-support.ts';
import { FileTokenStore } from './file-token-store.ts';

/** Leaves the lock as a process killed (kill -9) while holding it leaves it: the lock file, and SQLite's journal beside it. */
async function leaveLockOfKilledProcess(file: string): Promise<void> {
  await (await holdFileLockInAnotherProcess(`${file}.lock`)).kill();
}

/**
 * Starts `processes` Node processes that each, once all have loaded the store, create `perProcess`
 * tokens in `file` and revoke every third at once; answers what each made, by the order it made
 * them. They start together (each says it is ready, then waits for a go file) so that their
 * changes overlap, not their start-ups.
 */
async function changeConcurrently(file: string, processes: number, perProcess: number): Promise<{ token: string; id: string; revoked: boolean }[][]> {
  const go = `${file}.go`;
  const script = `
    import { existsSync } from 'node:fs';
    const { FileTokenStore } = await import(${JSON.stringify(new URL('./file-token-store.ts', import.meta.url).href)});
    const [file, go, name, count] = process.argv.slice(1);
    const store = new FileTokenStore(file);
    process.stdout.write('ready\\n');
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!existsSync(go)) Atomics.wait(pause, 0, 0, 1);
    const made = [];
    for (let index = 0; index < Number(count); index++) {
      const { token, record } = await store.create(name + '-' + index, ['runs:read']);
      const revoked = index % 3 === 2;
      if (revoked) await store.revoke(record.id);
      made.push({ token, id: record.id, revoked });
    }
    process.stdout.write(JSON.stringify(made) + '\\n');
  `;
  const children = Array.from({ length: processes }, (_, index) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@cairn/source', '--input-type=module', '-e', script, file, go, `process${index}`, String(perProcess)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => stdout.startsWith('ready\n') && resolve());
      child.on('exit', () => reject(new Error(`process ${index} ended before it was ready: ${stderr}`)));
    });
    const done = new Promise<{ token: string; id: string; revoked: boolean }[]>((resolve, reject) => {
      child.on('exit', (status) => {
        if (status !== 0) reject(new Error(`process ${index} failed (exit ${status}): ${stderr}`));
        else resolve(JSON.parse(stdout.slice('ready\n'.length)) as { token: string; id: string; revoked: boolean }[]);
      });
    });
    return { ready, done };
  });
  await Promise.all(children.map((child) => child.ready));
  writeFileSync(go, '');
  // Every process ends before the test does (and its folder goes), even when one failed.
  const made = await Promise.allSettled(children.map((child) => child.done));
  rmSync(go);
  return made.map((result) => {
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  });
}

test.each(['from a fresh start', 'from a lock a killed process left'])(
  'processes creating and revoking tokens in one file at once lose none of each other’s changes (%s)',
  { timeout: 120_000 },
  async (start) => {
    const directory = testDirectory('cairn-file-token-store-');
    const file = join(directory, 'tokens.json');
    if (start !== 'from a fresh start') await leaveLockOfKilledProcess(file);
    const processes = 6;
    const perProcess = 30;
    const made = (await changeConcurrently(file, processes, perProcess)).flat();
    expect(made).toHaveLength(processes * perProcess);

    // The file is whole, and holds every token each process made, revoked when it was revoked.
    const text = readFileSync(file, 'utf8');
    const parsed = JSON.parse(text) as { tokens: { id: string; revokedAt?: string }[] };
    expect(parsed.tokens.map((token) => token.id).sort()).toEqual(made.map((token) => token.id).sort());
    expect(
      parsed.tokens
        .filter((token) => token.revokedAt !== undefined)
        .map((token) => token.id)
        .sort(),
    ).toEqual(
      made
        .filter((token) => token.revoked)
        .map((token) => token.id)
        .sort(),
    );
    const store = new FileTokenStore(file);
    for (const { token, id, revoked } of made) expect(await store.verify(token), `token ${id}`).toEqual(revoked ? undefined : expect.objectContaining({ id }));
    expect(text).not.toMatch(/cairn_[0-9a-f]{12}_/);

    // Still the owner's alone, and nothing left beside it but the lock file (kept, 0600): no temporary file, no journal.
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.lock`).mode & 0o777).toBe(0o600);
    expect(readdirSync(directory)).toEqual(['tokens.json', 'tokens.json.lock']);
  },
);

test('a lock whose holder was killed (kill -9) is free at once; the change is made and the lock released', async () => {
  const directory = testDirectory('cairn-file-token-store-');
  const file = join(directory, 'tokens.json');
  const store = new FileTokenStore(file);
  const { record } = await store.create('operator', ['admin']);
  await leaveLockOfKilledProcess(file);
  const started = performance.now();
  const later = await store.create('ci', ['runs:read']);
  await store.revoke(record.id);
  // Not the lock's 10 s wait, however slow the machine.
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(await new FileTokenStore(file).verify(later.token)).toEqual(later.record);
  expect((await new FileTokenStore(file).list()).map((listed) => [listed.name, listed.revokedAt !== undefined])).toEqual([
    ['operator', true],
    ['ci', false],
  ]);
  expect(withFileLock(`${file}.lock`, () => 'free', { waitMs: 0 })).toBe('free');
  expect(readdirSync(directory)).toEqual(['tokens.json', 'tokens.json.lock']);
});
