// Packs on a real full disk (a tmpfs filled to the last byte; mounting needs root): a put is
// refused as a full disk (ENOSPC, which the engine waits out), retries make no file each, and
// once there is room every object put before and after is read back whole.
import { createHash } from 'node:crypto';
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { useSmallFileSystem } from '@cairn/conformance/faults';
import { LocalStorageProvider } from './local-storage-provider.ts';
import { packsFolder } from './object-packs.ts';
import { rejection } from '../testing/local.test-support.ts';

const disk = useSmallFileSystem(4);
const manifest = (index: number) => {
  const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index, padding: 'x'.repeat(2_000) }));
  return { key: `manifests/${createHash('sha256').update(bytes).digest('hex')}.json`, bytes };
};
const deferred = { ifAbsent: true, deferFlush: true } as const;
const packFiles = (root: string) =>
  readdirSync(join(root, packsFolder)).flatMap((shard) => readdirSync(join(root, packsFolder, shard)).filter((name) => name.endsWith('.pack')));

test('a full disk refuses a packed put as ENOSPC, retries add no pack file, and every object is read once there is room', async () => {
  const root = join(disk.path, 'storage');
  const storage = new LocalStorageProvider({ root });
  const before = Array.from({ length: 20 }, (_, index) => manifest(index));
  for (const { key, bytes } of before) await storage.put(key, bytes, deferred);
  const filler = join(disk.path, 'filler');
  disk.fill(filler);

  const late = manifest(1_000);
  const refusals = [];
  for (let attempt = 0; attempt < 5; attempt++) refusals.push(await rejection(storage.put(late.key, late.bytes, deferred)));
  for (const refused of refusals) {
    expect(refused.code).toBe('CAIRN_STORAGE_UNAVAILABLE');
    expect((refused as { cause?: { code?: string } }).cause?.code).toBe('ENOSPC');
  }
  const files = packFiles(root).length;
  for (let attempt = 0; attempt < 5; attempt++) await rejection(storage.put(late.key, late.bytes, deferred));
  expect(packFiles(root).length).toBe(files);

  unlinkSync(filler);
  expect(await storage.put(late.key, late.bytes, deferred)).toEqual({ written: true });
  const reader = new LocalStorageProvider({ root });
  for (const { key, bytes } of [...before, late]) expect(await reader.get(key)).toEqual(bytes);
});
