import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { ExecutionStateFiles, type ExecutionState } from '../executor/execution-state.ts';
import { createExecutionWorker } from '../executor/execution-worker.ts';
import { currentProcess } from '../executor/process-identity.ts';
import { removeWithMounts } from '../sandbox/unmount-under.ts';
import { keptMarker, ownerFolderName, volumeTemplatesFolderName } from '../executor/work-folders.ts';
import { openTaskStorage, type SupervisorInput } from './supervisor-input.ts';

/** How often a supervisor checks that its execution's state file is still there. */
const orphanCheckMs = 1_000;

/** What the supervisor's process gives its body: how to say it has taken the execution over, its log, and cancel. */
export interface SupervisorContext {
  /** Called once the state file names this process: the executor's `start` returns then. */
  readonly ready: () => void;
  readonly logger: Logger;
  /** Aborted by SIGTERM (the executor's `cancel`): the runtime is stopped and the attempt recorded as cancelled. */
  readonly signal: AbortSignal;
}

/**
 * The body of a supervisor process, which runs one execution apart from the server: it takes the
 * execution's state file over (its own pid and start time, so whoever reads it later — this server
 * or the next — sees it running while this process lives), runs the worker (and so the sandbox,
 * which dies with this process through its lifeline), removes its work folder, and writes the outcome.
 * A server that dies meanwhile takes nothing with it.
 */
export async function superviseExecution(input: SupervisorInput, context: SupervisorContext): Promise<void> {
  const { task, stateDirectory } = input;
  const self = currentProcess();
  const states = new ExecutionStateFiles(stateDirectory);
  const claimed = states.read(task.executionId);
  states.write({ executionId: task.executionId, owner: self, startedAt: claimed?.startedAt ?? new Date().toISOString(), status: 'running' });
  context.ready();
  // An execution whose state file is gone (its data directory removed) has nobody left to report
  // to, nor a way to: its task is stopped rather than left running to its time limit.
  const stop = new AbortController();
  context.signal.addEventListener('abort', () => stop.abort(), { once: true });
  const orphaned = setInterval(() => {
    if (!states.exists(task.executionId)) {
      context.logger.warn({ executionId: task.executionId }, 'the execution state file is gone: stopping the task');
      stop.abort();
    }
  }, orphanCheckMs);
  // Attempts get their folders in one of this process's own: a server starting later sweeps folders
  // of dead owners, and this one is alive for as long as its attempt is.
  const ownWorkRoot = join(input.workRoot, ownerFolderName(self));
  let exited: Pick<ExecutionState, 'outcome' | 'exitCode' | 'reason'>;
  try {
    mkdirSync(ownWorkRoot, { recursive: true, mode: 0o711 });
    const storage = await openTaskStorage(input.storage);
    const worker = createExecutionWorker(input.worker, {
      storage,
      workRoot: ownWorkRoot,
      volumeTemplates: join(input.workRoot, volumeTemplatesFolderName),
      logger: context.logger,
    });
    const record = await worker.run(task, stop.signal);
    exited = { outcome: record.outcome, exitCode: record.exitCode };
  } catch (error) {
    // The worker could not even write a result (storage down): the attempt failed, and says why here.
    context.logger.error({ executionId: task.executionId, error: isCairnError(error) ? error.code : String(error) }, 'the worker failed without a result');
    exited = {
      outcome: 'failed',
      exitCode: null,
      reason: `the worker wrote no result record: ${isCairnError(error) ? `${error.code}: ${error.message}` : String(error)}`,
    };
  }
  clearInterval(orphaned);
  removeOwnWorkRoot(ownWorkRoot, input.worker.keepWorkDirectory, context.logger);
  const previous = states.read(task.executionId);
  if (!previous) {
    // Someone removed the state directory under a running task: nothing can be recorded.
    context.logger.warn({ executionId: task.executionId }, 'the execution state file is gone; its exit is not recorded');
    return;
  }
  await writeExit(states, { ...previous, status: 'exited', ...exited }, context.logger);
}

/**
 * Removes this supervisor's folder, detaching any mount its attempt left there (a workspace whose
 * unmount failed); with `keepWorkDirectory`, marks it kept instead, so the sweep of dead owners'
 * folders (this process is one once it exits) leaves the kept attempt for debugging.
 */
function removeOwnWorkRoot(ownWorkRoot: string, keep: boolean, logger: Logger): void {
  try {
    if (keep && existsSync(ownWorkRoot) && readdirSync(ownWorkRoot).length > 0) writeFileSync(join(ownWorkRoot, keptMarker), '');
    else removeWithMounts(ownWorkRoot);
  } catch (error) {
    logger.warn({ directory: ownWorkRoot, error: (error as Error).message }, 'could not remove the work folder; a later server start sweeps it');
  }
}

// The exit is the one thing a later reader needs. A disk that is full (or failing) must not lose
// it: the write is tried again, 100 ms doubling to 5 s, until it goes through; until then the task
// reads as running, which it is as far as anyone can know.
async function writeExit(states: ExecutionStateFiles, state: ExecutionState, logger: Logger): Promise<void> {
  for (let tries = 0; ; tries++) {
    try {
      states.write(state);
      return;
    } catch (error) {
      if (tries === 0)
        logger.error({ executionId: state.executionId, error: String(error) }, "writing the execution's exit failed; retrying until it is written");
      await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** Math.min(tries, 6))));
    }
  }
}
