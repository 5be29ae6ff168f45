// What a put does to the disk, on a real directory: its bytes and its folder entry are flushed
// before it resolves (the engine starts a task only once the task's manifest is put, and a
// manifest must survive a crash once a dispatch names it), and the looks at folders a put or a
// read makes on its way are made on the calling thread, never through node's thread pool.
import { createHash } from 'node:crypto';
import { existsSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import type { LocalStorageProvider as LocalStorageProviderClass } from './local-storage-provider.ts';
import { temporaryPrefix } from './durable-file.ts';
import { temporaryFolders } from '../testing/local.test-support.ts';

// Every lstat the provider makes, by path (passed through to the real one): through node's
// thread pool (`lstatPaths`) and on the calling thread (`lstatSyncPaths`).
const { lstatPaths, lstatSyncPaths } = vi.hoisted(() => ({ lstatPaths: [] as string[], lstatSyncPaths: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    lstat: (...args: Parameters<typeof actual.lstat>) => {
      lstatPaths.push(String(args[0]));
      return actual.lstat(...args);
    },
  };
});
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>();
  return {
    ...actual,
    lstatSync: ((...args: Parameters<typeof actual.lstatSync>) => {
      lstatSyncPaths.push(String(args[0]));
      return actual.lstatSync(...args);
    }) as typeof actual.lstatSync,
  };
});

// Imported anew, after the mocks: a module another test file of this worker imported first is
// cached with the real fs (workers are not isolated: vitest.shared.ts).
let LocalStorageProvider: typeof LocalStorageProviderClass;
beforeAll(async () => {
  vi.resetModules();
  ({ LocalStorageProvider } = await import('./local-storage-provider.ts'));
});

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const manifest = (index: number) => {
  const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index }));
  return { key: `manifests/${sha256Hex(bytes)}.json`, bytes };
};

/** What each fsync flushed: the file's path when it started, and whether the object `watched` existed then. */
interface Flush {
  readonly path: string;
  readonly objectExisted: boolean;
}

describe('LocalStorageProvider flushes', () => {
  const folder = temporaryFolders('cairn-local-flush-');
  let fileHandlePrototype: { sync(): Promise<void> };
  beforeEach(async () => {
    const handle = await open(folder(), 'r');
    fileHandlePrototype = Object.getPrototypeOf(handle) as { sync(): Promise<void> };
    await handle.close();
  });
  afterEach(() => vi.restoreAllMocks());

  /** Records each fsync (and lets it through); `events` gets `flushed` entries in the order they end. */
  function recordFlushes(watched: string, events: (Flush | 'resolved')[]): void {
    const real = fileHandlePrototype.sync;
    vi.spyOn(fileHandlePrototype, 'sync').mockImplementation(async function (this: { fd: number }) {
      const flush = { path: readlinkSync(`/proc/self/fd/${this.fd}`), objectExisted: existsSync(watched) };
      await real.call(this);
      events.push(flush);
    });
  }

  test("a put resolves only once its bytes were flushed, before they were published, and its folder's entry after", async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    await storage.put(manifest(0).key, manifest(0).bytes, { ifAbsent: true }); // the folder exists
    const { key, bytes } = manifest(1);
    const target = join(root, key);
    const events: (Flush | 'resolved')[] = [];
    recordFlushes(target, events);
    await storage.put(key, bytes, { ifAbsent: true }).then(() => events.push('resolved'));
    expect(events).toEqual([
      // The temporary file's bytes, while the object did not exist yet: published only once durable.
      { path: expect.stringContaining(join(root, 'manifests', temporaryPrefix)), objectExisted: false },
      // Then the folder, which now names the object.
      { path: join(root, 'manifests'), objectExisted: true },
      'resolved',
    ]);
  });

  test('fifty puts made together into one folder: each flushes its own bytes and the folder, and none resolves before', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    await storage.put(manifest(0).key, manifest(0).bytes, { ifAbsent: true });
    const events: (Flush | 'resolved')[] = [];
    recordFlushes(join(root, 'never'), events);
    const objects = Array.from({ length: 50 }, (_, index) => manifest(index + 1));
    await Promise.all(objects.map(({ key, bytes }) => storage.put(key, bytes, { ifAbsent: true }).then(() => events.push('resolved'))));
    const flushes = events.filter((event): event is Flush => event !== 'resolved');
    expect(flushes.filter((flush) => flush.path.includes(temporaryPrefix))).toHaveLength(50);
    const folderFlushes = flushes.filter((flush) => flush.path === join(root, 'manifests'));
    expect(folderFlushes.length).toBeGreaterThanOrEqual(1);
    // (How many depends on when the data flushes end: durable-file.test.ts pins the sharing.)
    // No put resolved before a data flush and, after it, a folder flush had ended (the one-put test
    // above pins that order for each put; here they run at once).
    const firstData = events.findIndex((event) => event !== 'resolved' && event.path.includes(temporaryPrefix));
    const firstFolder = events.findIndex((event) => event !== 'resolved' && event.path === join(root, 'manifests'));
    expect(firstData).toBeGreaterThanOrEqual(0);
    expect(firstFolder).toBeGreaterThan(firstData);
    expect(events.indexOf('resolved')).toBeGreaterThan(firstFolder);
    for (const { key, bytes } of objects) expect(await storage.get(key)).toEqual(bytes);
  });

  test('fifty if-absent puts made together into one folder look at the folder on their own thread, never through the pool, and never at the objects first', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    await storage.put(manifest(0).key, manifest(0).bytes, { ifAbsent: true });
    lstatPaths.length = 0;
    lstatSyncPaths.length = 0;
    const objects = Array.from({ length: 50 }, (_, index) => manifest(index + 1));
    const written = await Promise.all(objects.map(({ key, bytes }) => storage.put(key, bytes, { ifAbsent: true })));
    expect(written.every((result) => result.written)).toBe(true);
    expect(lstatPaths.filter((path) => path === join(root, 'manifests'))).toEqual([]);
    expect(lstatSyncPaths.filter((path) => path === join(root, 'manifests'))).toHaveLength(50);
    expect([...lstatPaths, ...lstatSyncPaths].filter((path) => path.endsWith('.json'))).toEqual([]);
    // Put again, they find their objects there: each then looks at its own.
    lstatPaths.length = 0;
    const again = await Promise.all(objects.map(({ key, bytes }) => storage.put(key, bytes, { ifAbsent: true })));
    expect(again.every((result) => !result.written)).toBe(true);
    expect(lstatPaths.filter((path) => path.endsWith('.json'))).toHaveLength(50);
  });

  test('fifty reads made together below a folder that does not exist look for it (both its names) on their own thread, never through the pool', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    await storage.put(manifest(0).key, manifest(0).bytes, { ifAbsent: true });
    lstatPaths.length = 0;
    lstatSyncPaths.length = 0;
    const found = await Promise.all(Array.from({ length: 50 }, (_, index) => storage.get(`results/run/item-${index}/1.json`)));
    expect(found.every((bytes) => bytes === null)).toBe(true);
    expect(lstatPaths).toEqual([]);
    expect(lstatSyncPaths.filter((path) => path === join(root, 'results'))).toHaveLength(50);
    expect(lstatSyncPaths.filter((path) => path === join(root, 'results\\'))).toHaveLength(50);
  });
});
