import type { Logger } from '@cairn/core';
import { CairnError, isTerminalState, runTransitions } from '@cairn/protocol';
import type { Checkpointer } from '../audit/checkpointer.ts';
import type { RunRecord } from '../records/run-records.ts';
import type { RunStateMachine } from '../state/run-state-machine.ts';
import type { GroupCommit } from '../store/group-commit.ts';

export interface RunWaitersSettings {
  readonly machine: RunStateMachine;
  readonly checkpointer: Checkpointer;
  readonly commit: GroupCommit;
  readonly logger?: Logger | undefined;
}

/** Who waits for which run to end (`Engine.waitForRun`), told once its end is durable and covered by a checkpoint. */
export class RunWaiters {
  readonly #machine: RunStateMachine;
  readonly #checkpointer: Checkpointer;
  readonly #commit: GroupCommit;
  readonly #logger: Logger | undefined;
  readonly #waiters = new Map<string, ((run: RunRecord) => void)[]>();

  constructor(settings: RunWaitersSettings) {
    this.#machine = settings.machine;
    this.#checkpointer = settings.checkpointer;
    this.#commit = settings.commit;
    this.#logger = settings.logger;
  }

  /** Resolves with the run once it has ended; rejects with CAIRN_NOT_FOUND for an unknown run. */
  wait(runId: string): Promise<RunRecord> {
    if (!this.#machine.run(runId)) return Promise.reject(new CairnError('CAIRN_NOT_FOUND', `Run ${runId} does not exist.`, { details: { runId } }));
    const ended = this.#endedRun(runId);
    if (ended) return Promise.resolve(ended);
    return new Promise((resolve) => this.#waiters.set(runId, [...(this.#waiters.get(runId) ?? []), resolve]));
  }

  notifyAll(): void {
    for (const runId of [...this.#waiters.keys()]) this.notifyIfEnded(runId);
  }

  // Tells the run's waiters once it has ended, after a commit that begins now: what ended it may
  // have been written while the commit the caller waited for was in flight (an exit pushed then),
  // and a waiter must never hear of an end a reader of the state store cannot see yet.
  notifyIfEnded(runId: string): void {
    if (!this.#waiters.has(runId) || !this.#endedRun(runId)) return;
    // The run's checkpoint is issued first: its end may have been recorded after the loop's turn
    // issued checkpoints (a start's exit lands while the loop goes on), and whoever hears of the end
    // (and stops the engine, or exports the run's evidence) finds it covered.
    this.#checkpointer
      .issueIfDue()
      .catch((error: unknown) => this.#logger?.warn({ runId, error: String(error) }, "issuing the run's checkpoint before telling its waiters failed"))
      .then(() => this.#commit())
      .then(
        () => {
          const waiters = this.#waiters.get(runId);
          const run = waiters && this.#endedRun(runId);
          if (!run) return;
          this.#waiters.delete(runId);
          for (const waiter of waiters) waiter(run);
        },
        // Not durable (the writer lost its lease): nobody is told; the next writer ends the run again.
        (error: unknown) => this.#logger?.warn({ runId, error: String(error) }, 'the commit before telling run waiters failed'),
      );
  }

  #endedRun(runId: string): RunRecord | undefined {
    const run = this.#machine.run(runId);
    return run && isTerminalState(runTransitions, run.state) ? run : undefined;
  }
}
