import type { ExecutionStatus } from '@cairn/core';
import type { FragmentJoinProgress } from '../state/fragment-join.ts';
import type { CheckedFragment } from '../state/run-fragment.ts';
import type { AttemptRecord } from '../store/sqlite/attempt-store.ts';
import type { DispatchContext } from './dispatch-context.ts';
import type { ResultRead } from './read-result.ts';

/**
 * A planner's output from this size on joins its run step by step (`FragmentJoin`): about 700 small
 * items, whose check and insert in one transaction already hold the event loop for tens of ms.
 */
export const stepwiseFragmentBytes = 32 * 1_024;

/** How the success of a planner whose fragment joined step by step is recorded at last. */
export type JoinedCompletion = (attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead, joined: CheckedFragment | undefined) => void;

interface PendingJoin {
  readonly status: ExecutionStatus;
  readonly read: ResultRead;
  /** Undefined until its first step has checked the fragment. */
  progress: FragmentJoinProgress | undefined;
}

/**
 * The planners whose large fragments are joining their runs: each planner's attempt stays running
 * (its exit kept here, in memory) while the engine's loop takes the join's steps, a transaction
 * each, and its success is recorded with the last (`recordCompletion` with the fragment joined).
 * The first step checks the fragment; one that is not valid fails the planner there, adding
 * nothing. After a restart, nothing is kept: the attempt is found ended again (pushed or
 * inspected), and its join starts over, its steps safe to take again.
 */
export class FragmentJoins {
  readonly #context: DispatchContext;
  readonly #pending = new Map<string, PendingJoin>();
  readonly #check: (attempt: AttemptRecord, read: ResultRead) => CheckedFragment | undefined;
  readonly #complete: JoinedCompletion;

  constructor(context: DispatchContext, check: (attempt: AttemptRecord, read: ResultRead) => CheckedFragment | undefined, complete: JoinedCompletion) {
    this.#context = context;
    this.#check = check;
    this.#complete = complete;
  }

  /** Whether this ended attempt's fragment joins step by step: a planner's large output. */
  wants(attempt: AttemptRecord, read: ResultRead): boolean {
    return attempt.itemMayEmit && read !== undefined && 'output' in read && read.output !== undefined && read.output.byteLength >= stepwiseFragmentBytes;
  }

  /** Whether the attempt's fragment is joining now (an exit pushed or found again meanwhile is not recorded). */
  joining(executionId: string): boolean {
    return this.#pending.has(executionId);
  }

  /** Keeps a planner's exit while its fragment joins; the loop takes the steps. */
  defer(attempt: AttemptRecord, status: ExecutionStatus, read: ResultRead): void {
    this.#pending.set(attempt.executionId, { status, read, progress: undefined });
  }

  /**
   * Takes one step of the oldest join under way: the loop takes one a turn and goes round through
   * the event loop between them, so what waits on it (a client of a server in this process, a
   * cancel) waits at most one step. Returns how many it took (none when no join is under way).
   */
  takeStep(): number {
    for (const [executionId, join] of this.#pending) {
      this.#step(executionId, join);
      return 1;
    }
    return 0;
  }

  /** One step of one join; true once it is over (its planner's success recorded, or its failure). */
  #step(executionId: string, join: PendingJoin): boolean {
    const { workingCopy, machine } = this.#context.settings;
    const attempt = this.#context.attempts.byExecutionId(executionId);
    if (attempt?.state !== 'running') {
      this.#pending.delete(executionId);
      return true;
    }
    if (join.progress === undefined) {
      const fragment = workingCopy.transaction(() => this.#check(attempt, join.read))();
      // Not valid, or its run is being cancelled: recorded as any planner's end is (the check again).
      if (fragment === undefined) return this.#end(executionId, attempt, join, undefined);
      join.progress = { runId: attempt.runId, emitterId: attempt.itemId, fragment, steps: 0 };
      return false;
    }
    const result = machine.joinStep(join.progress);
    if (result === 'more') return false;
    return this.#end(executionId, attempt, join, result === 'joined' ? join.progress.fragment : undefined);
  }

  #end(executionId: string, attempt: AttemptRecord, join: PendingJoin, joined: CheckedFragment | undefined): true {
    this.#pending.delete(executionId);
    try {
      this.#context.settings.workingCopy.transaction(() => this.#complete(attempt, join.status, join.read, joined))();
    } catch (error) {
      // Kept, to be recorded by a later turn (the step that failed is not counted).
      this.#pending.set(executionId, join);
      throw error;
    }
    return true;
  }
}
