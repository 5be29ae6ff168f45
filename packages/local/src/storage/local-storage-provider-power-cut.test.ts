// Local storage on a disk whose power is cut right after its calls resolved: every put that
// resolved (without deferFlush) reads back whole, an object replaced reads as its last put, and a
// deleted one stays deleted, in new folders as in old.
import { join } from 'node:path';
import { usePowerCutFileSystem } from '@cairn/conformance/faults';
import { expect, test } from 'vitest';
import { createLocalStorageProvider } from './local-storage-provider.ts';

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
