// A server stand-in for tests, run as its own process (`node --conditions=@cairn/source`): it
// builds a local executor over directory storage, starts the tasks it is given, says "started" on
// stdout and waits to be killed. Its argv is JSON: the executor's plain settings and the tasks. Its
// log goes to stderr, a JSON line each.
import type { PublicKeyRecord, TaskEnvelope } from '@cairn/core';
import { createLocalExecutor } from '../executor/local-executor.ts';
import { createLocalStorageProvider } from '../storage/local-storage-provider.ts';
import { jsonLineLogger } from './json-line-logger.ts';

interface HostInput {
  readonly storageRoot: string;
  readonly key: PublicKeyRecord;
  readonly stateDirectory: string;
  readonly workRoot: string;
  readonly sandbox: 'bubblewrap' | 'none';
  readonly keepWorkDirectory: boolean;
  readonly tasks: readonly TaskEnvelope[];
}

const input = JSON.parse(process.argv[2]!) as HostInput;
const executor = createLocalExecutor({
  storage: createLocalStorageProvider({ root: input.storageRoot }),
  trustedKeys: [input.key],
  stateDirectory: input.stateDirectory,
  workRoot: input.workRoot,
  sandbox: input.sandbox,
  keepWorkDirectory: input.keepWorkDirectory,
  logger: jsonLineLogger((line) => process.stderr.write(line)),
});
for (const task of input.tasks) await executor.start(task);
process.stdout.write('started\n');
setInterval(() => {}, 60_000);
