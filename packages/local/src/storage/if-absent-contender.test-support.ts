// Run as a process of its own by the storage tests: `node --conditions=@cairn/source
// if-absent-contender.test-support.ts <root> <key> <count>` makes <count> concurrent if-absent
// puts of <key> and prints how many reported written, so the test can count winners across
// processes (link() decides, not anything inside one Node process).
import { createLocalStorageProvider } from './local-storage-provider.ts';

const [root, key, count] = process.argv.slice(2);
const storage = createLocalStorageProvider({ root: root! });
const results = await Promise.all(
  Array.from({ length: Number(count) }, (_, index) => storage.put(key!, new TextEncoder().encode(`process ${process.pid} put ${index}`), { ifAbsent: true })),
);
process.stdout.write(`${results.filter((result) => result.written).length}\n`);
