// A process that holds a snapshot tree from a cache, to be killed while it builds one:
//   node --conditions=@cairn/source snapshot-cache-child.test-support.ts <cache> <snapshot tar> <digest> <holder>
// Prints "held <tree>" once it holds it, then waits to be killed.
import { readFileSync } from 'node:fs';
import { SnapshotCache } from './snapshot-cache.ts';

const [cacheDirectory, snapshotFile, digest, holder] = process.argv.slice(2) as [string, string, string, string];
const cache = new SnapshotCache({ directory: cacheDirectory, maxBytes: 1e12, maxAgeMs: 1e12, checkEveryMs: 0 });
const held = await cache.hold({ digest, what: 'the test snapshot', fetch: async () => readFileSync(snapshotFile), holder });
process.stdout.write(`held ${held.snapshot.tree}\n`);
setInterval(() => undefined, 60_000);
