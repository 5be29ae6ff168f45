// Directory flushes are shared between concurrent callers, on a real directory: a caller never
// settles for a flush that may have started before its change.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { syncDirectory } from './durable-file.ts';

let directory: string;
// Counts the real fsyncs (and lets them through): every FileHandle shares this prototype.
let fileHandlePrototype: { sync(): Promise<void> };
beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'cairn-durable-'));
  const handle = await open(directory, 'r');
  fileHandlePrototype = Object.getPrototypeOf(handle) as { sync(): Promise<void> };
  await handle.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(directory, { recursive: true, force: true });
});

test('callers who arrive while a flush is under way share the next one: twenty calls, two fsyncs', async () => {
  const sync = vi.spyOn(fileHandlePrototype, 'sync');
  await Promise.all(Array.from({ length: 20 }, () => syncDirectory(directory)));
  expect(sync).toHaveBeenCalledTimes(2);
  // Once both have ended, a new caller gets a flush of its own.
  await syncDirectory(directory);
  expect(sync).toHaveBeenCalledTimes(3);
});

test('a caller arriving during a flush waits for one that starts after it called', async () => {
  const order: string[] = [];
  const real = fileHandlePrototype.sync;
  vi.spyOn(fileHandlePrototype, 'sync').mockImplementation(async function (this: unknown) {
    order.push('fsync started');
    await real.call(this);
  });
  const first = syncDirectory(directory);
  await new Promise((resolve) => setImmediate(resolve));
  order.push('second called');
  const second = syncDirectory(directory).then(() => order.push('second done'));
  await Promise.all([first, second]);
  expect(order.at(-1)).toBe('second done');
  expect(order.lastIndexOf('fsync started')).toBeGreaterThan(order.indexOf('second called'));
});

test('a failed flush fails its callers and not the next ones', async () => {
  const missing = join(directory, 'not-yet');
  const failing = [syncDirectory(missing), syncDirectory(missing)];
  for (const call of failing) await expect(call).rejects.toMatchObject({ code: 'ENOENT' });
  mkdirSync(missing);
  await expect(syncDirectory(missing)).resolves.toBeUndefined();
});
