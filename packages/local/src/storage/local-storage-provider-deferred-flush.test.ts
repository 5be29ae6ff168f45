// Puts with `deferFlush` (ADR 0024), on a real directory: no fsync at all, yet every reader sees the
// object at once and it outlives its writer killed with SIGKILL; and what a machine crash can
// leave of one (an empty or cut file under a content-addressed key, a pack record cut short) is
// replaced by the next put. Small content-addressed objects go to packs (ADR 0025): see
// object-packs.test.ts for those.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { LocalStorageProvider } from './local-storage-provider.ts';
import { rejection, temporaryFolders } from '../testing/local.test-support.ts';

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const manifest = (index: number) => {
  const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index }));
  return { key: `manifests/${sha256Hex(bytes)}.json`, bytes };
};

describe('LocalStorageProvider puts with deferFlush', () => {
  const folder = temporaryFolders('cairn-local-deferred-');
  afterEach(() => vi.restoreAllMocks());

  /** Counts every fsync of a file or folder the provider makes (and lets it through). */
  async function countFlushes(): Promise<{ readonly count: number }> {
    const handle = await open(folder(), 'r');
    const prototype = Object.getPrototypeOf(handle) as { sync(): Promise<void> };
    await handle.close();
    const counted = { count: 0 };
    const real = prototype.sync;
    vi.spyOn(prototype, 'sync').mockImplementation(async function (this: unknown) {
      counted.count += 1;
      await real.call(this);
    });
    return counted;
  }

  test('fifty deferred puts make no fsync, and another provider over the folder reads each back at once', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    // The folders a first put makes: a plain put's, and the packs folder (each flushed once, when made).
    await storage.put(manifest(0).key, manifest(0).bytes, { ifAbsent: true });
    await storage.put(manifest(100).key, manifest(100).bytes, { ifAbsent: true, deferFlush: true });
    const flushes = await countFlushes();
    const objects = Array.from({ length: 50 }, (_, index) => manifest(index + 1));
    const results = await Promise.all(objects.map(({ key, bytes }) => storage.put(key, bytes, { ifAbsent: true, deferFlush: true })));
    expect(results.every((result) => result.written)).toBe(true);
    expect(flushes.count).toBe(0);
    const reader = new LocalStorageProvider({ root });
    for (const { key, bytes } of objects) expect(await reader.get(key)).toEqual(bytes);
    // A put without it still flushes its bytes and its folder.
    await storage.put(manifest(99).key, manifest(99).bytes, { ifAbsent: true });
    expect(flushes.count).toBe(2);
  });

  test('a deferred if-absent put keeps its atomicity: of twenty at once exactly one is written', async () => {
    const storage = new LocalStorageProvider({ root: folder() });
    const bodies = Array.from({ length: 20 }, (_, index) => new TextEncoder().encode(`contender ${index}`));
    const results = await Promise.all(bodies.map((body) => storage.put('race/key', body, { ifAbsent: true, deferFlush: true })));
    const winners = results.flatMap((result, index) => (result.written ? [index] : []));
    expect(winners).toHaveLength(1);
    expect(await storage.get('race/key')).toEqual(bodies[winners[0]!]);
  });

  test('objects a writer put with deferFlush are read whole after the writer is killed with SIGKILL', async () => {
    const root = folder();
    const writer = fileURLToPath(new URL('./deferred-writer.test-support.ts', import.meta.url));
    const { keys, signal } = await new Promise<{ keys: string[]; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const child = execFile(process.execPath, ['--conditions=@cairn/source', writer, root, '30'], (error, stdout) => {
        if (error && error.signal !== 'SIGKILL') return reject(error);
        resolve({ keys: stdout.split('\n').filter((line) => line !== ''), signal: error?.signal ?? null });
      });
      child.stdin?.end();
    });
    expect(signal).toBe('SIGKILL');
    expect(keys).toHaveLength(30);
    const reader = new LocalStorageProvider({ root });
    // `get` checks each against the digest its key names: whole, not empty or cut.
    for (const key of keys)
      expect(JSON.parse(new TextDecoder().decode((await reader.get(key))!))).toEqual({ manifest: expect.any(Number), writer: expect.any(Number) });
  });

  test('an if-absent put over a content-addressed object a machine crash emptied or cut short replaces it, and reports written', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    const { key, bytes } = manifest(1);
    await storage.put(key, bytes, { ifAbsent: true });
    // What a power loss can leave of a deferred put of a file (as Cairn made before packs, and as
    // a put too large for a pack makes): the name, with none or part of its bytes.
    truncateSync(join(root, key), 0);
    expect((await rejection(storage.get(key))).code).toBe('CAIRN_DIGEST_MISMATCH');
    expect(await storage.put(key, bytes, { ifAbsent: true, deferFlush: true })).toEqual({ written: true });
    expect(await storage.get(key)).toEqual(bytes);
    writeFileSync(join(root, key), bytes.subarray(0, 5));
    expect(await storage.put(key, bytes, { ifAbsent: true })).toEqual({ written: true });
    expect(readFileSync(join(root, key))).toEqual(Buffer.from(bytes));
    // A sound object is kept: the put reports not written.
    expect(await storage.put(key, bytes, { ifAbsent: true })).toEqual({ written: false });
  });

  test('an if-absent put over a plain key keeps whatever is there, as before', async () => {
    const root = folder();
    const storage = new LocalStorageProvider({ root });
    await storage.put('plain/key', new TextEncoder().encode('first'), { ifAbsent: true, deferFlush: true });
    truncateSync(join(root, 'plain/key'), 0);
    expect(await storage.put('plain/key', new TextEncoder().encode('second'), { ifAbsent: true })).toEqual({ written: false });
    expect(await storage.get('plain/key')).toEqual(new Uint8Array());
  });
});
