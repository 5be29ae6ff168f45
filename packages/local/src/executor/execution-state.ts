import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionOutcome } from '@cairn/core';
import type { ProcessIdentity } from './process-identity.ts';

/** What the local executor remembers of one execution, in a file of its own. */
export interface ExecutionState {
  readonly executionId: string;
  /**
   * The process that runs (or ran) its worker — its supervisor, or the server claiming it for the
   * moment the supervisor takes to start: when it is gone before the execution ended, the execution is lost.
   */
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
 *
 * The files are not flushed: they outlive the processes that write them, not the machine. A machine
 * crash may leave a file whose name was flushed and whose bytes were not (empty, or cut short);
 * every process that could have written it died in that crash, so such a file is read as no state
 * (the execution is unknown, and lost to the engine) and a start of its id claims it afresh.
 */
export class ExecutionStateFiles {
  readonly #directory: string;

  constructor(directory: string) {
    this.#directory = directory;
    mkdirSync(directory, { recursive: true, mode: 0o700 });
  }

  read(executionId: string): ExecutionState | undefined {
    let text: string;
    try {
      text = readFileSync(this.#path(executionId), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return parseState(text);
  }

  exists(executionId: string): boolean {
    return existsSync(this.#path(executionId));
  }

  write(state: ExecutionState): void {
    const path = this.#path(state.executionId);
    writeFileSync(`${path}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  /**
   * Writes `state` only if the execution has no state file yet; false when it has one. Atomic among
   * processes (a hard link to a complete temp file), so of two servers starting one id, one does.
   */
  claim(state: ExecutionState): boolean {
    const path = this.#path(state.executionId);
    const temporary = `${path}.${process.pid}.claim`;
    writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
    try {
      for (let tries = 0; ; tries++) {
        try {
          linkSync(temporary, path);
          return true;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          // A file a machine crash left without its bytes claims nothing: it goes, once.
          if (tries > 0 || !this.#torn(path)) return false;
          rmSync(path, { force: true });
        }
      }
    } finally {
      rmSync(temporary, { force: true });
    }
  }

  /** Removes the execution's state file (a removal needs no room on the disk); nothing when there is none. */
  remove(executionId: string): void {
    rmSync(this.#path(executionId), { force: true });
  }

  /** Where the supervisor of an execution writes its log (its stdout and stderr). */
  logPath(executionId: string): string {
    return this.#path(executionId).replace(/\.json$/, '.log');
  }

  /** The execution id a file of this directory is the state of; undefined for any other file. */
  executionIdOf(fileName: string): string | undefined {
    return fileName.endsWith('.json') ? fileName.slice(0, -'.json'.length).replaceAll('~', '/') : undefined;
  }

  /** The directory, to watch. */
  get directory(): string {
    return this.#directory;
  }

  #torn(path: string): boolean {
    try {
      return parseState(readFileSync(path, 'utf8')) === undefined;
    } catch {
      return false;
    }
  }

  // Execution ids are `run/item/attempt`: slashes become `~`, which no id segment may hold.
  #path(executionId: string): string {
    return join(this.#directory, `${executionId.replaceAll('/', '~')}.json`);
  }
}

/** A state file's content; undefined when it is not a whole one (what a machine crash leaves of an unflushed write). */
function parseState(text: string): ExecutionState | undefined {
  try {
    const state = JSON.parse(text) as ExecutionState | null;
    return typeof state === 'object' && state !== null && typeof state.executionId === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}
