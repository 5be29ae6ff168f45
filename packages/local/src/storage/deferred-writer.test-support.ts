// Run as a process of its own by the deferred-flush tests: `node --conditions=@cairn/source
// deferred-writer.test-support.ts <root> <count>` puts <count> manifests with `deferFlush`, prints
// their keys (one a line) once every put has resolved, and kills itself with SIGKILL at once, as
// `kill -9` would: nothing of the process (no exit handler, no pending write) runs after the puts.
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { createLocalStorageProvider } from './local-storage-provider.ts';

const [root, count] = process.argv.slice(2);
const storage = createLocalStorageProvider({ root: root! });
const keys = await Promise.all(
  Array.from({ length: Number(count) }, async (_, index) => {
    const bytes = new TextEncoder().encode(JSON.stringify({ manifest: index, writer: process.pid }));
    const key = `manifests/${createHash('sha256').update(bytes).digest('hex')}.json`;
    await storage.put(key, bytes, { ifAbsent: true, deferFlush: true });
    return key;
  }),
);
writeSync(1, keys.map((key) => `${key}\n`).join(''));
process.kill(process.pid, 'SIGKILL');
