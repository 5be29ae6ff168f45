// A fan-out on an engine over a SQLite file, to be counted under strace by wal-commit.test.ts:
//   node --conditions=@cairn/source fsync-fanout-child.test-support.ts <dir> <items>
// Submits <items> independent items through the engine's service (which answers once the submit is
// durable), waits for the run, and prints `done <state>`. Tasks end at once (an in-memory executor).
import { join } from 'node:path';
import { createInMemoryExecutor, createInMemorySigner, createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '../../engine.ts';

const [directory, itemsText] = process.argv.slice(2);
if (directory === undefined || itemsText === undefined) throw new Error('usage: fsync-fanout-child <dir> <items>');
const items = Array.from({ length: Number(itemsText) }, (_, index) => ({ id: `i${index}`, runtime: { kind: 'command', argv: ['true'] } }));
const engine = createEngine({
  database: join(directory, 'engine.db'),
  executors: { local: createInMemoryExecutor({ run: () => 0 }) },
  storage: createInMemoryStorageProvider(),
  signer: createInMemorySigner(),
  concurrency: 50,
});
engine.start();
const { runId } = await engine.service().submit({ version: 1, name: 'fan-out', items }, { actor: { kind: 'user', id: 'ana', via: 'cli' } });
const run = await engine.waitForRun(runId);
await engine.close();
process.stdout.write(`done ${run.state}\n`);
