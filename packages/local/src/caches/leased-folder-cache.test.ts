import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@cairn/core';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { temporaryFolders, thrownBy } from '../testing/local.test-support.ts';
import { diskBytes, LeasedFolderCache } from './leased-folder-cache.ts';

const folder = temporaryFolders('cairn-leased-folder-cache-');

const recordSchema = z.object({ digest: z.string(), bytes: z.int().min(0), note: z.string() });

/** A digest made of one repeated hex character. */
const digestOf = (hex: string) => `sha256:${hex.repeat(64)}`;

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & { lines: { level: string; fields: Record<string, unknown>; message?: string }[] } {
  const lines: { level: string; fields: Record<string, unknown>; message?: string }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message?: string) =>
    void lines.push({ level, fields, ...(message === undefined ? {} : { message }) });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function cacheIn(root: string, limits: { maxBytes?: number; maxAgeMs?: number } = {}) {
  const logger = recordingLogger();
  const cache = new LeasedFolderCache({
    directory: join(root, 'cache'),
    maxBytes: limits.maxBytes ?? 1e12,
    maxAgeMs: limits.maxAgeMs ?? 1e12,
    recordSchema,
    names: { entry: 'test entry', cache: 'test cache' },
    logger,
  });
  return { cache, logger };
}

/** A holder: an attempt folder that exists while the attempt lives. */
function holder(root: string, name: string): string {
  const path = join(root, 'attempts', name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** Builds `digest`'s entry with a `content` file of `size` bytes. */
async function built(cache: LeasedFolderCache<z.infer<typeof recordSchema>>, digest: string, by: string, size = 16) {
  const { entry } = cache.locate(digest);
  return cache.build(entry, by, async (building) => {
    await writeFile(join(building, 'content'), Buffer.alloc(size, 1));
    return { digest, bytes: await diskBytes(building), note: 'built' };
  });
}

describe('LeasedFolderCache', () => {
  test('an entry is named after its digest hex, beside its lock; a digest that is not sha256 is refused', () => {
    const root = folder();
    const { cache } = cacheIn(root);
    const located = cache.locate(digestOf('a'));
    expect(located).toEqual({ name: 'a'.repeat(64), entry: join(root, 'cache', 'a'.repeat(64)), lock: join(root, 'cache', `.lock-${'a'.repeat(64)}`) });
    expect(thrownBy(() => cache.locate('sha256:abc')).code).toBe('CAIRN_DIGEST_INVALID');
  });

  test('a build is renamed into place with its record, without its builder file; a lease holds it until released', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    const { entry } = cache.locate(digestOf('b'));
    expect(await cache.leaseRecord(entry, digestOf('b'), holder(root, 'one'))).toBe('absent');
    const record = await built(cache, digestOf('b'), holder(root, 'one'));
    expect(record).toMatchObject({ digest: digestOf('b'), note: 'built' });
    expect(record!.bytes).toBeGreaterThan(0);
    expect(readdirSync(entry).sort()).toEqual(['content', 'entry.json', 'leases']);
    expect(JSON.parse(readFileSync(join(entry, 'entry.json'), 'utf8'))).toEqual(record);
    expect(await cache.readRecord(entry)).toEqual(record);
    expect(readdirSync(join(root, 'cache'))).toEqual(['b'.repeat(64)]);

    const leased = await cache.leaseRecord(entry, digestOf('b'), holder(root, 'two'));
    if (typeof leased === 'string') throw new Error(`the entry was ${leased}`);
    expect(leased.record).toEqual(record);
    const leases = readdirSync(join(entry, 'leases'));
    expect(leases).toHaveLength(1);
    expect(readFileSync(join(entry, 'leases', leases[0]!), 'utf8')).toBe(join(root, 'attempts', 'two'));
    await leased.release();
    await leased.release();
    expect(readdirSync(join(entry, 'leases'))).toHaveLength(0);
  });

  test('an entry whose record names another digest, or is missing, is foreign: the lease is let go, the entry left to the caller', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    await built(cache, digestOf('b'), holder(root, 'one'));
    const { entry } = cache.locate(digestOf('b'));
    expect(await cache.leaseRecord(entry, digestOf('c'), holder(root, 'two'))).toBe('foreign');
    rmSync(join(entry, 'entry.json'));
    expect(await cache.leaseRecord(entry, digestOf('b'), holder(root, 'two'))).toBe('foreign');
    expect(readdirSync(join(entry, 'leases'))).toHaveLength(0);
    expect(existsSync(entry)).toBe(true);
  });

  test('a build that loses the rename to another is removed and answers undefined; a fill that throws leaves nothing', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    const { entry } = cache.locate(digestOf('c'));
    await built(cache, digestOf('c'), holder(root, 'first'), 10);
    const first = readFileSync(join(entry, 'entry.json'), 'utf8');
    expect(await built(cache, digestOf('c'), holder(root, 'second'), 5000)).toBeUndefined();
    expect(readFileSync(join(entry, 'entry.json'), 'utf8')).toBe(first);
    expect(readdirSync(join(root, 'cache'))).toEqual(['c'.repeat(64)]);

    const other = cache.locate(digestOf('d')).entry;
    await expect(cache.build(other, holder(root, 'third'), () => Promise.reject(new Error('the fill failed')))).rejects.toThrow('the fill failed');
    expect(readdirSync(join(root, 'cache'))).toEqual(['c'.repeat(64)]);
  });

  test('a record that is missing or not valid reads as none', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    const { entry } = cache.locate(digestOf('e'));
    mkdirSync(entry, { recursive: true });
    expect(await cache.readRecord(entry)).toBeUndefined();
    writeFileSync(join(entry, 'entry.json'), '{"digest":');
    expect(await cache.readRecord(entry)).toBeUndefined();
    writeFileSync(join(entry, 'entry.json'), JSON.stringify({ digest: digestOf('e'), bytes: -1, note: '' }));
    expect(await cache.readRecord(entry)).toBeUndefined();
  });

  test('one holder takes a lock at a time; a lock whose holder is gone is taken over', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    mkdirSync(join(root, 'cache'));
    const { lock } = cache.locate(digestOf('f'));
    const first = holder(root, 'first');
    expect(await cache.takeLock(lock, first)).toBe(true);
    expect(await cache.takeLock(lock, holder(root, 'second'))).toBe(false);
    rmSync(first, { recursive: true });
    expect(await cache.takeLock(lock, holder(root, 'second'))).toBe(true);
    expect(readFileSync(lock, 'utf8')).toBe(join(root, 'attempts', 'second'));
  });

  test('eviction takes the least recently used entries nobody holds beyond the bytes, and any past the age; the kept one stays', async () => {
    const root = folder();
    const { cache, logger } = cacheIn(root, { maxBytes: 1 });
    const hexes = ['1', '2', '3', '4'];
    for (const hex of hexes) await built(cache, digestOf(hex), holder(root, 'builder'));
    // Used at 1000 s, 2000 s, … since the epoch: '1' least recently.
    hexes.forEach((hex, index) => utimesSync(join(cache.locate(digestOf(hex)).entry, 'leases'), 1000 * (index + 1), 1000 * (index + 1)));
    const held = holder(root, 'holder');
    await cache.leaseRecord(cache.locate(digestOf('2')).entry, digestOf('2'), held);
    // Taking the lease moved '2's use to now: set back, it is held, not recently used.
    utimesSync(join(cache.locate(digestOf('2')).entry, 'leases'), 2000, 2000);
    await cache.evict(cache.locate(digestOf('4')).entry);
    // '1' and '3' go (least recently used first), '2' is held, '4' is kept; the trash is emptied.
    expect(readdirSync(join(root, 'cache')).sort()).toEqual(['2'.repeat(64), '4'.repeat(64)]);
    expect(logger.lines.filter((line) => line.message === 'test entry evicted').map((line) => line.fields['entry'])).toEqual([
      cache.locate(digestOf('1')).entry,
      cache.locate(digestOf('3')).entry,
    ]);

    // Within the bytes, only the age counts: '2' unused for longer than a minute goes once let go.
    const { cache: aged } = cacheIn(root, { maxAgeMs: 60_000 });
    rmSync(held, { recursive: true });
    await aged.evict(cache.locate(digestOf('4')).entry);
    expect(readdirSync(join(root, 'cache'))).toEqual(['4'.repeat(64)]);
  });

  test('an entry set aside is removed once nobody holds it; builds whose builder is gone are removed, others stay', async () => {
    const root = folder();
    const { cache } = cacheIn(root);
    await built(cache, digestOf('9'), holder(root, 'builder'));
    const { entry } = cache.locate(digestOf('9'));
    const reader = holder(root, 'reader');
    await cache.leaseRecord(entry, digestOf('9'), reader);
    expect(await cache.setAside(entry)).toBe(true);
    expect(await cache.setAside(entry)).toBe(false);
    const alive = join(root, 'cache', '.building-alive');
    const dead = join(root, 'cache', '.building-dead');
    for (const [building, by] of [
      [alive, holder(root, 'alive')],
      [dead, join(root, 'attempts', 'gone')],
    ] as const) {
      mkdirSync(join(building, 'leases'), { recursive: true });
      writeFileSync(join(building, 'builder'), by);
    }
    await cache.emptyTrash();
    const trash = () => readdirSync(join(root, 'cache')).filter((name) => name.startsWith('.trash-'));
    expect(trash()).toHaveLength(1);
    expect(existsSync(alive)).toBe(true);
    expect(existsSync(dead)).toBe(false);
    rmSync(reader, { recursive: true });
    await cache.emptyTrash();
    expect(trash()).toHaveLength(0);
  });

  test('a failed eviction after a build is logged with the cache named, never thrown', async () => {
    const root = folder();
    const { cache, logger } = cacheIn(root);
    await cache.evictAfterBuild(join(root, 'cache', 'x'));
    expect(logger.lines).toEqual([
      { level: 'warn', fields: { directory: join(root, 'cache'), error: expect.stringContaining('ENOENT') }, message: 'could not evict from the test cache' },
    ]);
  });
});
