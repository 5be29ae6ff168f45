// Local storage on a disk whose power is cut right after its calls resolved: every put that
// resolved (without deferFlush) reads back whole, an object replaced reads as its last put, and a
// deleted one stays deleted, in new folders as in old; a durable put that finds its object left by
// a deferred put makes that one durable.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { blobKey, sha256Digest } from '@cairn/protocol';
import { expect, test } from 'vitest';
import { createLocalStorageProvider } from './local-storage-provider.ts';
import { packedObjectMaxBytes } from './object-packs.ts';

const power = usePowerCutFileSystem();
const bytes = (text: string) => new TextEncoder().encode(text);

test('what resolved before a power cut is what storage holds after it', async () => {
  const root = join(power.path, 'storage');
  const storage = createLocalStorageProvider({ root });
  const kept: Record<string, string> = {};
  for (let index = 0; index < 20; index++) {
    const key = `runs/r-${index % 4}/items/i-${index}/result.json`;
    await storage.put(key, bytes(`result ${index}`));
    kept[key] = `result ${index}`;
  }
  await storage.put('blobs/only-once', bytes('first'), { ifAbsent: true });
  kept['blobs/only-once'] = 'first';
  await storage.put('runs/r-0/spec.json', bytes('old spec'));
  await storage.put('runs/r-0/spec.json', bytes('new spec'));
  kept['runs/r-0/spec.json'] = 'new spec';
  await storage.put('runs/r-1/gone.json', bytes('gone'));
  await storage.delete('runs/r-1/gone.json');
  await power.cut();
  const after = createLocalStorageProvider({ root });
  for (const [key, text] of Object.entries(kept)) expect(new TextDecoder().decode((await after.get(key)) ?? undefined), key).toBe(text);
  expect(await after.get('runs/r-1/gone.json')).toBeNull();
});

test('a durable if-absent put of an object a deferred put left (in a file or in a pack) makes it durable, without writing it again', async () => {
  const root = join(power.path, 'deferred-then-durable');
  const storage = createLocalStorageProvider({ root });
  const blob = (text: string) => {
    const body = bytes(text);
    return { key: blobKey(sha256Digest(body)), body, text };
  };
  // Small objects are packed (forty: shards are met again, their names flushed once); one over
  // the packs' bound keeps a file of its own.
  const packed = blob('a small body, packed');
  const more = Array.from({ length: 40 }, (_, index) => blob(`small body ${index}, packed`));
  const filed = blob(`a large body, in a file of its own: ${'x'.repeat(packedObjectMaxBytes)}`);
  // In a shard of its own: a flush of another object's pack would keep it too.
  const shard = (key: string) => key.slice('blobs/'.length, 'blobs/'.length + 2);
  let left = blob('a small body nobody made durable');
  for (let index = 0; [packed, ...more].some(({ key }) => shard(key) === shard(left.key)); index++) left = blob(`a small body nobody made durable, ${index}`);
  for (const { key, body } of [packed, filed, left, ...more])
    expect(await storage.put(key, body, { ifAbsent: true, deferFlush: true })).toEqual({ written: true });
  for (const { key, body } of [packed, filed, ...more]) expect(await storage.put(key, body, { ifAbsent: true })).toEqual({ written: false });
  // Made durable where it was: no file written beside the packed one.
  expect(existsSync(join(root, packed.key))).toBe(false);
  await power.cut();
  const after = createLocalStorageProvider({ root });
  for (const { key, text } of [packed, filed, ...more]) expect(new TextDecoder().decode((await after.get(key)) ?? undefined), key).toBe(text);
  // What only a deferred put wrote is lost in a cut: the flushes above are what kept the others.
  expect(await after.get(left.key)).toBeNull();
});
