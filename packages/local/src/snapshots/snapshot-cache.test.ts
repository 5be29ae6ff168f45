import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Digest } from '@cairn/protocol';
import { writeTar, type TarEntry } from '@cairn/protocol/workspace';
import { describe, expect, test } from 'vitest';
import { temporaryFolders } from '../testing/local.test-support.ts';
import { SnapshotCache } from './snapshot-cache.ts';

const folder = temporaryFolders('cairn-snapshot-cache-');

/** A snapshot of `files` files of about `bytesEach` bytes (incompressible), and its digest. */
function snapshotOf(files: number, bytesEach = 64, seed = 'a'): { bytes: Uint8Array; digest: string } {
  const entries: TarEntry[] = Array.from({ length: files }, (_, index) => ({
    kind: 'file',
    path: `dir-${index % 50}/file-${index}.txt`,
    executable: false,
    content: Buffer.from(`${seed} ${index} `.padEnd(bytesEach, `${(index * 7919) % 9973}`)),
  }));
  const bytes = writeTar(entries);
  return { bytes, digest: sha256Digest(bytes) };
}

/** A cache in `directory`, its bounds as given (none by default), every take looked over. */
function cacheIn(directory: string, limits: { maxBytes?: number; maxAgeMs?: number; checkEveryMs?: number } = {}) {
  return new SnapshotCache({ directory, maxBytes: limits.maxBytes ?? 1e12, maxAgeMs: limits.maxAgeMs ?? 1e12, checkEveryMs: limits.checkEveryMs ?? 0 });
}

/** A holder: an attempt folder that exists while the attempt lives. */
function holder(root: string, name: string): string {
  const path = join(root, 'attempts', name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** Requests to hold `snapshot` for attempts named as given, and how many times it was fetched (built). */
function requests(root: string, snapshot: { bytes: Uint8Array; digest: string }) {
  let fetched = 0;
  return {
    request: (name: string) => ({
      digest: snapshot.digest,
      what: 'the test snapshot',
      fetch: async () => (fetched++, snapshot.bytes),
      holder: holder(root, name),
    }),
    fetches: () => fetched,
  };
}

/** The entries of the cache folder by kind. */
function listing(directory: string): { entries: string[]; other: string[] } {
  const names = readdirSync(directory);
  return { entries: names.filter((name) => /^[0-9a-f]{64}$/.test(name)), other: names.filter((name) => !/^[0-9a-f]{64}$/.test(name)) };
}

describe('SnapshotCache', () => {
  test('a snapshot is built once, into a git checkout at its baseline commit, and used again while sound', async () => {
    const root = folder();
    const cache = cacheIn(join(root, 'cache'));
    const snapshot = snapshotOf(30);
    let fetched = 0;
    const fetch = async () => (fetched++, snapshot.bytes);
    const first = await cache.hold({ digest: snapshot.digest, what: 'the test snapshot', fetch, holder: holder(root, 'one') });
    const second = await cache.hold({ digest: snapshot.digest, what: 'the test snapshot', fetch, holder: holder(root, 'two') });
    expect(fetched).toBe(1);
    expect(second.snapshot).toEqual(first.snapshot);
    expect(first.snapshot.entries).toBe(30);
    expect(readFileSync(join(first.snapshot.tree, 'dir-3/file-3.txt'), 'utf8')).toMatch(/^a 3 /);
    expect(existsSync(join(first.snapshot.gitDirectory, 'index'))).toBe(true);
    expect(listing(join(root, 'cache'))).toEqual({ entries: [snapshot.digest.slice(7)], other: [] });
  });

  test('two holders of one snapshot at once (two caches, as two processes): one builds, the other waits for its tree', async () => {
    const root = folder();
    const snapshot = snapshotOf(400);
    let fetched = 0;
    const [one, two] = await Promise.all(
      ['one', 'two'].map((name) =>
        cacheIn(join(root, 'cache')).hold({
          digest: snapshot.digest,
          what: 'the test snapshot',
          fetch: async () => (fetched++, snapshot.bytes),
          holder: holder(root, name),
        }),
      ),
    );
    expect(fetched).toBe(1);
    expect(one!.snapshot).toEqual(two!.snapshot);
    expect(readdirSync(join(one!.snapshot.tree, 'dir-0'))).toHaveLength(8);
    expect(listing(join(root, 'cache'))).toEqual({ entries: [snapshot.digest.slice(7)], other: [] });
  });

  test.each([
    ['a file edited', (tree: string) => appendFileSync(join(tree, 'dir-1/file-1.txt'), 'tampered')],
    ['a file removed (a temp cleaner)', (tree: string) => unlinkSync(join(tree, 'dir-1/file-1.txt'))],
    ['a file added', (tree: string) => writeFileSync(join(tree, 'dir-1/planted.txt'), 'planted')],
  ])('a tree that is not what was built (%s) is set aside and built again', async (_, damage) => {
    const root = folder();
    const cache = cacheIn(join(root, 'cache'));
    const snapshot = snapshotOf(20);
    const { request, fetches } = requests(root, snapshot);
    const first = await cache.hold(request('one'));
    await first.release();
    damage(first.snapshot.tree);
    const again = await cache.hold(request('two'));
    expect(fetches()).toBe(2);
    expect(existsSync(join(again.snapshot.tree, 'dir-1/planted.txt'))).toBe(false);
    expect(readFileSync(join(again.snapshot.tree, 'dir-1/file-1.txt'), 'utf8')).toMatch(/^a 1 \d+$/);
    // The damaged tree went to the trash and, held by nobody, was removed.
    expect(listing(join(root, 'cache'))).toEqual({ entries: [snapshot.digest.slice(7)], other: [] });
  });

  test('a tree found sound is not looked at again for checkEveryMs: damage is found at the first look after that', async () => {
    const root = folder();
    const cache = cacheIn(join(root, 'cache'), { checkEveryMs: 300 });
    const snapshot = snapshotOf(20);
    const { request, fetches } = requests(root, snapshot);
    const first = await cache.hold(request('one'));
    appendFileSync(join(first.snapshot.tree, 'dir-1/file-1.txt'), 'tampered');
    await cache.hold(request('two'));
    expect(fetches()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const again = await cache.hold(request('three'));
    expect(fetches()).toBe(2);
    expect(readFileSync(join(again.snapshot.tree, 'dir-1/file-1.txt'), 'utf8')).toMatch(/^a 1 \d+$/);
  });

  test('a damaged tree someone still holds is set aside, not removed under them', async () => {
    const root = folder();
    const cache = cacheIn(join(root, 'cache'));
    const snapshot = snapshotOf(20);
    const request = (name: string) => ({ digest: snapshot.digest, what: 'the test snapshot', fetch: async () => snapshot.bytes, holder: holder(root, name) });
    await cache.hold(request('still-running'));
    const tree = join(root, 'cache', snapshot.digest.slice(7), 'tree');
    appendFileSync(join(tree, 'dir-1/file-1.txt'), 'tampered');
    await cache.hold(request('next'));
    const { entries, other } = listing(join(root, 'cache'));
    expect(entries).toEqual([snapshot.digest.slice(7)]);
    expect(other).toHaveLength(1);
    expect(other[0]).toMatch(/^\.trash-/);
    // Once its holder is gone (its attempt ended), the next build empties the trash.
    rmSync(join(root, 'attempts', 'still-running'), { recursive: true });
    const other2 = snapshotOf(5, 64, 'b');
    await cache.hold({ digest: other2.digest, what: 'another snapshot', fetch: async () => other2.bytes, holder: holder(root, 'third') });
    expect(listing(join(root, 'cache')).other).toEqual([]);
  });

  test('the cache keeps to its size: the least recently used trees nobody holds go first, held ones stay', async () => {
    const root = folder();
    const directory = join(root, 'cache');
    const snapshots = ['a', 'b', 'c', 'd'].map((seed) => snapshotOf(40, 4096, seed));
    const request = (index: number) => ({
      digest: snapshots[index]!.digest,
      what: 'a test snapshot',
      fetch: async () => snapshots[index]!.bytes,
      holder: holder(root, `attempt-${index}`),
    });
    // The first is held throughout; its size tells what room two trees take.
    await cacheIn(directory).hold(request(0));
    const treeBytes = (name: string) => (JSON.parse(readFileSync(join(directory, name, 'entry.json'), 'utf8')) as { bytes: number }).bytes;
    const maxBytes = Math.floor(2.5 * treeBytes(snapshots[0]!.digest.slice(7)));
    const cache = cacheIn(directory, { maxBytes });
    for (const index of [1, 2, 3]) await (await cache.hold(request(index))).release();
    const kept = listing(directory).entries;
    expect(kept.sort()).toEqual([snapshots[0]!.digest.slice(7), snapshots[3]!.digest.slice(7)].sort());
    expect(kept.reduce((sum, name) => sum + treeBytes(name), 0)).toBeLessThanOrEqual(maxBytes);
  });

  test('a tree unused for longer than maxAgeMs goes at the next build', async () => {
    const root = folder();
    const cache = cacheIn(join(root, 'cache'), { maxAgeMs: 50 });
    const [old, fresh] = [snapshotOf(5, 64, 'old'), snapshotOf(5, 64, 'new')];
    await (await cache.hold({ digest: old.digest, what: 'old', fetch: async () => old.bytes, holder: holder(root, 'one') })).release();
    await new Promise((resolve) => setTimeout(resolve, 120));
    await cache.hold({ digest: fresh.digest, what: 'new', fetch: async () => fresh.bytes, holder: holder(root, 'two') });
    expect(listing(join(root, 'cache')).entries).toEqual([fresh.digest.slice(7)]);
  });

  test('a process killed while it builds leaves no entry, only its build folder, which goes once its holder is gone', { timeout: 60_000 }, async () => {
    const root = folder();
    const cacheDirectory = join(root, 'cache');
    const snapshot = snapshotOf(3_000, 32);
    const snapshotFile = join(root, 'snapshot.tar');
    writeFileSync(snapshotFile, snapshot.bytes);
    const childHolder = holder(root, 'killed');
    const child = spawn(
      process.execPath,
      [
        '--conditions=@cairn/source',
        fileURLToPath(new URL('./snapshot-cache-child.test-support.ts', import.meta.url)),
        cacheDirectory,
        snapshotFile,
        snapshot.digest,
        childHolder,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Killed once it is writing the tree.
    const building = () => (existsSync(cacheDirectory) ? readdirSync(cacheDirectory).find((name) => name.startsWith('.building-')) : undefined);
    for (let wait = 0; wait < 2_000; wait++) {
      const name = building();
      if (name !== undefined && existsSync(join(cacheDirectory, name, 'tree', 'dir-0'))) break;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(output).toBe('');
    expect(listing(cacheDirectory).entries).toEqual([]);
    // The executor's sweep removes a dead process's attempt folders; its build folder then holds nothing.
    rmSync(childHolder, { recursive: true });
    const cache = cacheIn(cacheDirectory);
    const held = await cache.hold({ digest: snapshot.digest, what: 'the test snapshot', fetch: async () => snapshot.bytes, holder: holder(root, 'next') });
    expect(held.snapshot.entries).toBe(3_000);
    expect(listing(cacheDirectory)).toEqual({ entries: [snapshot.digest.slice(7)], other: [] });
  });
});
