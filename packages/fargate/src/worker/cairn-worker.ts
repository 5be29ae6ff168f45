// `cairn-worker`: the entrypoint of the Fargate task's container (`node /opt/cairn/cairn-worker.js`).
// Everything it does is in runTaskWorker; this file is the process around it: SIGTERM (ECS's
// StopTask) cancels the attempt, the exit code says how it ended, an error is one line on stderr,
// and so is each warning (the task's log is its stderr).
import type { Logger } from '@cairn/core';
import { runTaskWorker } from './run-task-worker.ts';

const line = (level: string) => (fields: Record<string, unknown>, message?: string) =>
  process.stderr.write(`cairn-worker: ${level}: ${(message ?? '').replaceAll('\n', ' ')} ${JSON.stringify(fields)}\n`);
const logger: Logger = { debug: () => undefined, info: () => undefined, warn: line('warning'), error: line('error') };

const controller = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => controller.abort());

const outcome = await runTaskWorker({ env: process.env, signal: controller.signal, logger });
if (outcome.error) process.stderr.write(`cairn-worker: ${outcome.error.code}: ${outcome.error.message.replaceAll('\n', ' ')}\n`);
else process.stderr.write(`cairn-worker: ${outcome.record!.executionId} ${outcome.record!.outcome}\n`);
process.exitCode = outcome.exitCode;
