import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionOutcome } from '@cairn/core';
import type { ProcessIdentity } from './process-identity.ts';

/** What the local executor remembers of one execution, in a file of its own. */
export interface ExecutionState {
  readonly executionId: string;
  /** The process that runs (or ran) its worker: when it is gone before the execution ended, the execution is lost. */
  readonly owner: ProcessIdentity;
  readonly startedAt: string;
  readonly status: 'running' | 'exited';
  readonly outcome?: ExecutionOutcome;
  readonly exitCode?: number | null;
  /** Why it failed when its worker wrote no result record (storage down): the engine's only account of it. */
  readonly reason?: string;
}

/**
 * One JSON file per execution under a directory, written atomically (temp file and rename), so a
 * restarted server finds every execution the previous one started and how it ended — the state a
 * handle needs to survive a restart without holding anything in memory.
 */
export class ExecutionStateFiles {
  readonly #directory: string;

  constructor(directory: string) {
    this.#directory = directory;
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  }

  read(executionId: string): ExecutionState | undefined {
    try {
      return JSON.parse(readFileSync(this.#path(executionId), 'utf8')) as ExecutionState;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  write(state: ExecutionState): void {
    const path = this.#path(state.executionId);
    writeFileSync(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  // Execution ids are `run/item/attempt`: slashes become `~`, which no id segment may hold.
  #path(executionId: string): string {
    return join(this.#directory, `${executionId.replaceAll('/', '~')}.json`);
  }
}
