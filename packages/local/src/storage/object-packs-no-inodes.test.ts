// Packs on a real disk out of inodes (a tmpfs holding a few files; mounting needs root): an
// instance whose first put in a shard cannot make its pack file is refused as a full disk, naming
// the file; once a file can be made, the put lands and is read back.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { manifestKey, sha256Digest } from '@cairn/protocol';
import { LocalStorageProvider } from './local-storage-provider.ts';
import { rejection } from '../testing/local.test-support.ts';

const disk = useSmallFileSystem(4, { inodes: 16 });
const manifest = (index: number) => {
  const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index }));
  return { key: manifestKey(sha256Digest(bytes)), bytes };
};
const deferred = { ifAbsent: true, deferFlush: true } as const;

test('a pack file that cannot be made (no inode left) is CAIRN_STORAGE_UNAVAILABLE naming it; the put lands once one can', async () => {
  const root = join(disk.path, 'storage');
  const first = manifest(0);
  expect(await new LocalStorageProvider({ root }).put(first.key, first.bytes, deferred)).toEqual({ written: true });
  // Every inode left taken: the shard's folder exists, a second instance's own pack cannot be made.
  const fillers: string[] = [];
  for (let index = 0; ; index++) {
    const filler = join(disk.path, `filler-${index}`);
    try {
      writeFileSync(filler, '');
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      break;
    }
    fillers.push(filler);
  }
  const second = new LocalStorageProvider({ root });
  const sameShard = Array.from({ length: 5_000 }, (_, index) => manifest(index + 1)).find(
    (candidate) => candidate.key.slice('manifests/'.length, 'manifests/'.length + 2) === first.key.slice('manifests/'.length, 'manifests/'.length + 2),
  )!;
  const refused = await rejection(second.put(sameShard.key, sameShard.bytes, deferred));
  expect(refused.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
  expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ENOSPC');
  expect(refused.message).toMatch(/making a pack/);
  expect(refused.message).toMatch(/\.pack/);

  rmSync(fillers.pop()!);
  expect(await second.put(sameShard.key, sameShard.bytes, deferred)).toEqual({ written: true });
  expect(await new LocalStorageProvider({ root }).get(sameShard.key)).toEqual(sameShard.bytes);
});
