// The supervisor process of one local execution (`dist/execution-supervisor.js`), started detached
// by the local executor: its input comes on stdin (secrets included, so never on argv or in the
// environment), "ready" goes back on fd 3 once it owns the execution, its log goes to stderr (a
// file next to the state file). SIGTERM cancels; a hang-up of a terminal the server had is not ours.
import { closeSync, writeSync } from 'node:fs';
import { superviseExecution } from './execution-supervisor.ts';
import { jsonLineLogger } from './json-line-logger.ts';
import { isNoRoom, noRoomExitCode } from './no-room.ts';
import type { SupervisorInput } from './supervisor-input.ts';

const controller = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => controller.abort());
process.on('SIGHUP', () => {});

const chunks: Buffer[] = [];
for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SupervisorInput;
// stderr is a file: a failed write (full disk) must not end the process through an 'error' event.
process.stderr.on('error', () => {});
const logger = jsonLineLogger((line) => process.stderr.write(line), { executionId: input.task.executionId });
let told = false;
try {
  await superviseExecution(input, {
    ready: () => {
      if (told) return;
      told = true;
      try {
        writeSync(3, 'ready\n');
        closeSync(3);
      } catch {
        // The server that started it died meanwhile (EPIPE): the execution is ours all the same.
      }
    },
    logger,
    signal: controller.signal,
  });
} catch (error) {
  // The execution's state file could not be taken over for want of room: nothing ran, and the exit
  // code says why (the log is on that full disk too), so that the executor starts it again later.
  if (!told && isNoRoom(error)) process.exit(noRoomExitCode);
  throw error;
}
